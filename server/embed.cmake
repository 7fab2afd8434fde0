# Turns server/page.html into a C array (the chat page is compiled into the binary; no xxd needed).
# Usage: cmake -DIN=page.html -DOUT=server_page.c -P embed.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n_hex)
math(EXPR n "${n_hex} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}" "/* Generated from server/page.html by server/embed.cmake: do not edit. */\n#include \"server.h\"\n"
  "const unsigned char srv_page_html[] = {\n${bytes}0x00};\nconst size_t srv_page_html_len = ${n};\n")
