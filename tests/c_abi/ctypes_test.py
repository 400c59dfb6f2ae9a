"""The C ABI from Python's ctypes: another language through its C FFI.

    python3 ctypes_test.py <librealtime_bridge_c.so>

Loads the library, checks its version, and drives a call a little way in the
list style: the OpenAI socket opens, the call asks for a session.update; a
bad configuration is refused with a message.
"""
import ctypes
import sys


class RtbString(ctypes.Structure):
    _fields_ = [("data", ctypes.c_char_p), ("size", ctypes.c_size_t)]


class RtbAction(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int32), ("leg", ctypes.c_int32), ("close_code", ctypes.c_uint16),
                ("text", RtbString), ("event", ctypes.c_void_p)]


class RtbCallOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("config_json", ctypes.c_char_p),
                ("config_json_length", ctypes.c_size_t), ("callbacks", ctypes.c_void_p),
                ("max_twilio_message_bytes", ctypes.c_size_t), ("max_openai_message_bytes", ctypes.c_size_t),
                ("trace_line", ctypes.c_void_p), ("trace_user", ctypes.c_void_p), ("parser", ctypes.c_void_p)]


RTB_OK, RTB_E_INVALID_CONFIG = 0, -2
RTB_LEG_OPENAI, RTB_ACTION_SEND_TEXT = 1, 1

lib = ctypes.CDLL(sys.argv[1])
lib.rtb_version.restype = ctypes.c_char_p
lib.rtb_last_error.restype = ctypes.c_char_p
lib.rtb_config_check.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
lib.rtb_call_options_init.argtypes = [ctypes.POINTER(RtbCallOptions)]
lib.rtb_call_create.argtypes = [ctypes.POINTER(RtbCallOptions), ctypes.c_int64, ctypes.POINTER(ctypes.c_void_p)]
lib.rtb_call_on_openai_open.argtypes = [ctypes.c_void_p, ctypes.c_int64]
lib.rtb_call_next_action.argtypes = [ctypes.c_void_p]
lib.rtb_call_next_action.restype = ctypes.POINTER(RtbAction)
lib.rtb_call_destroy.argtypes = [ctypes.c_void_p]

version = lib.rtb_version().decode()
assert version.count(".") == 2, version

bad = b'{"openai":{"speed":9}}'
assert lib.rtb_config_check(bad, len(bad)) == RTB_E_INVALID_CONFIG
assert b"speed" in lib.rtb_last_error()

options = RtbCallOptions()
lib.rtb_call_options_init(ctypes.byref(options))
assert options.struct_size == ctypes.sizeof(RtbCallOptions), "the struct layout differs from the header's"
config = b'{"openai":{"instructions":"Be brief."}}'
options.config_json = config
options.config_json_length = len(config)
call = ctypes.c_void_p()
status = lib.rtb_call_create(ctypes.byref(options), 5_000_000, ctypes.byref(call))
assert status == RTB_OK, lib.rtb_last_error()
assert lib.rtb_call_on_openai_open(call, 5_080_000) == RTB_OK, lib.rtb_last_error()
action = lib.rtb_call_next_action(call)
assert action, "no action after the OpenAI socket opened"
a = action.contents
assert a.type == RTB_ACTION_SEND_TEXT and a.leg == RTB_LEG_OPENAI
text = ctypes.string_at(a.text.data, a.text.size).decode()
assert text.startswith('{"type":"session.update"') and '"instructions":"Be brief."' in text, text
assert not lib.rtb_call_next_action(call)
lib.rtb_call_destroy(call)
print(f"realtime_bridge {version} from Python ctypes: ok")
