/* json: a small strict JSON parser and serializer for untrusted bytes (chat messages, template
 * kwargs, server requests). json_parse builds a tree of json_value nodes, each malloc'd; objects
 * keep their members in file order (a duplicate key keeps its first position and its last value,
 * as Python's json does). Strings are NUL-terminated UTF-8 with an explicit length (they may hold
 * U+0000). Nesting depth and input size are bounded; invalid UTF-8, bad escapes and lone
 * surrogates are errors, never crashes. */
#ifndef EDGELLM_JSON_H
#define EDGELLM_JSON_H
#include <stddef.h>
#include <stdint.h>

typedef enum json_type { JSON_NULL = 0, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } json_type;

typedef struct json_value {
    json_type type;
    int boolean;                 /* JSON_BOOL */
    int is_int;                  /* JSON_NUMBER written without fraction/exponent and fits int64 */
    int64_t i;                   /* JSON_NUMBER when is_int */
    double num;                  /* JSON_NUMBER (always set) */
    char *str;                   /* JSON_STRING */
    size_t len;                  /* JSON_STRING bytes; JSON_ARRAY / JSON_OBJECT member count */
    struct json_value **items;   /* JSON_ARRAY elements / JSON_OBJECT values [len] */
    char **keys;                 /* JSON_OBJECT keys [len] */
    size_t *key_lens;            /* JSON_OBJECT key byte lengths [len] */
} json_value;

#define JSON_MAX_DEPTH 256

/* Parses text[0..len) (one value, whitespace around allowed). Returns NULL on error with one line
 * in err ("json: ... at line L col C"). Free with json_free. */
json_value *json_parse(const char *text, size_t len, char *err, size_t err_size);
void json_free(json_value *v);

/* Member of an object by key, or NULL. */
const json_value *json_get(const json_value *obj, const char *key);

/* A growable byte buffer used by the serializers; len excludes the NUL kept after the data. */
typedef struct json_buf {
    char *data;
    size_t len, cap;
    size_t max;      /* 0: unlimited; otherwise appends beyond max set failed */
    int failed;      /* allocation failed or max exceeded */
} json_buf;

void json_buf_put(json_buf *b, const char *s, size_t n);
void json_buf_puts(json_buf *b, const char *s);
void json_buf_free(json_buf *b);

/* Appends s[0..n) as a quoted JSON string, escaping like Python's json.dumps: '"', '\\', and
 * control characters; with ensure_ascii, every non-ASCII character as \uXXXX (pairs above BMP). */
void json_write_string(json_buf *b, const char *s, size_t n, int ensure_ascii);
/* Formats a double as Python's repr does ("1.0", "0.1", "1e+20", "inf", "nan"); out >= 32 bytes.
 * json_style: "Infinity"/"-Infinity"/"NaN" instead. */
void json_format_double(double d, int json_style, char *out);
/* Serializes v like Python's json.dumps(v, ensure_ascii=ensure_ascii, indent=indent):
 * indent < 0 means None (separators ", " and ": "). */
void json_write(json_buf *b, const json_value *v, int indent, int ensure_ascii);

/* UTF-8 helpers shared with the template engine. */
/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid / truncated. *cp gets the code point. */
int json_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Writes cp as UTF-8 into out (>= 4 bytes); returns the length. */
int json_utf8_encode(uint32_t cp, char *out);
#endif
