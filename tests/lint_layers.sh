#!/usr/bin/env bash
# The layering check: the library's folders under src/ are layers, and an #include may point only
# to the same layer or a lower one. Programs (tools/, server/) use only the public header, their
# own headers and, for `synth`, the developer library (tools/dev/edgellm_dev.h).
# The layer order, lowest first, written down once:
LAYERS="core quant gguf kernels text template grammar model convert"
set -u
cd "${EDGELLM_SRC:-$(dirname "$0")/..}" || exit 1
rank() { local i=0; for l in $LAYERS; do [ "$l" = "$1" ] && { echo $i; return; }; i=$((i + 1)); done; echo -1; }
fail=0 n=0
for f in $(find src -name '*.c' -o -name '*.h' -o -name '*.inc' | sort); do
    layer=$(echo "$f" | cut -d/ -f2)
    r=$(rank "$layer")
    if [ "$r" -lt 0 ]; then echo "FAIL $f: folder '$layer' is not a layer (add it to LAYERS in $0)"; fail=$((fail + 1)); continue; fi
    while IFS= read -r inc; do
        n=$((n + 1))
        case "$inc" in
            edgellm.h) continue ;;
            */*) ;;
            *) [ -e "$(dirname "$f")/$inc" ] && continue
               echo "FAIL $f: #include \"$inc\" names no layer (write \"layer/file.h\")"; fail=$((fail + 1)); continue ;;
        esac
        to=${inc%%/*}
        rt=$(rank "$to")
        if [ "$rt" -lt 0 ]; then echo "FAIL $f: #include \"$inc\" is outside the library's layers"; fail=$((fail + 1))
        elif [ "$rt" -gt "$r" ]; then echo "FAIL $f: #include \"$inc\" points up ($layer -> $to)"; fail=$((fail + 1)); fi
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done
for f in $(find tools server -name '*.c' -o -name '*.h' | grep -v '^tools/dev/' | sort); do
    while IFS= read -r inc; do
        n=$((n + 1))
        case "$inc" in
            edgellm.h|edgellm_dev.h) ;;
            */*) echo "FAIL $f: #include \"$inc\": programs use only the public API"; fail=$((fail + 1)) ;;
            *) [ -e "$(dirname "$f")/$inc" ] || [ -e "tools/$inc" ] || [ -e "server/$inc" ] ||
                   { echo "FAIL $f: #include \"$inc\" is not a program header"; fail=$((fail + 1)); } ;;
        esac
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done
echo "lint_layers: $n includes checked, order: $LAYERS"
echo "$((n - fail)) passed, $fail failed"
[ "$fail" = 0 ]
