# docs/embedding.md's "A minimal host" must compile as C99, warnings as
# errors, against the real header.
#   cmake -DCC=<c compiler> -DDOC=<embedding.md> -DINCLUDE=<include dir> -DOUT=<dir> -P check_doc_snippet.cmake
file(READ ${DOC} doc)
string(FIND "${doc}" "### A minimal host" at)
if(at EQUAL -1)
  message(FATAL_ERROR "no \"### A minimal host\" section in ${DOC}")
endif()
string(SUBSTRING "${doc}" ${at} -1 doc)
string(FIND "${doc}" "```c\n" start)
if(start EQUAL -1)
  message(FATAL_ERROR "no ```c block after \"### A minimal host\" in ${DOC}")
endif()
math(EXPR start "${start} + 5")
string(SUBSTRING "${doc}" ${start} -1 doc)
string(FIND "${doc}" "```" end)
string(SUBSTRING "${doc}" 0 ${end} code)
file(MAKE_DIRECTORY ${OUT})
file(WRITE ${OUT}/minimal_host.c "${code}")
execute_process(
  COMMAND ${CC} -std=c99 -pedantic -Wall -Wextra -Werror -I${INCLUDE} -c ${OUT}/minimal_host.c -o ${OUT}/minimal_host.o
  RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "the minimal host of ${DOC} does not compile (${OUT}/minimal_host.c)")
endif()
message(STATUS "the minimal host compiles")
