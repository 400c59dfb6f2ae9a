/* Links the installed realtime_bridge::c from C and drives a call a little way. */
#include <realtime_bridge/c/realtime_bridge.h>

#include <stdio.h>
#include <string.h>

int main(void) {
  if (strcmp(rtb_version(), RTB_VERSION_STRING) != 0) {
    printf("header %s, library %s\n", RTB_VERSION_STRING, rtb_version());
    return 1;
  }
  rtb_call_options options;
  rtb_call_options_init(&options);
  rtb_call* call = NULL;
  if (rtb_call_create(&options, 0, &call) != RTB_OK || rtb_call_on_openai_open(call, 1000) != RTB_OK) {
    printf("%s\n", rtb_last_error());
    return 1;
  }
  const rtb_action* a = rtb_call_next_action(call);
  const int ok = a && a->type == RTB_ACTION_SEND_TEXT && a->leg == RTB_LEG_OPENAI &&
                 strstr(a->text.data, "\"type\":\"session.update\"") != NULL;
  rtb_call_destroy(call);
  if (!ok) {
    printf("expected a session.update for OpenAI\n");
    return 1;
  }
  printf("installed realtime_bridge::c works\n");
  return 0;
}
