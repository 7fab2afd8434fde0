/* Unicode support for the tokenizers: UTF-8 decoding that never fails (an invalid byte stands
 * alone), the per-code-point classes the pre-tokenizer regexes ask about (\p{L}, \p{N}, \p{P},
 * \s ...), and NFC. The tables are generated (scripts/gen_unicode.py -> unicode_tables.c) as
 * sorted arrays looked up by binary search. */
#ifndef EDGELLM_UNICODE_H
#define EDGELLM_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Coarse general-category classes; the numbers are written into unicode_tables.c. */
enum unicode_cat {
    UCAT_UNDEF = 0, UCAT_LETTER = 1, UCAT_NUMBER = 2, UCAT_PUNCT = 3,
    UCAT_MARK = 4, UCAT_SYMBOL = 5, UCAT_SEPARATOR = 6, UCAT_CONTROL = 7,
};

/* Flags of a code point: one class bit plus UFLAG_SPACE for White_Space. Never 0 for a real
 * code point (unassigned ones have UFLAG_UNDEF), so 0 can mean "past the end". */
enum {
    UFLAG_UNDEF = 1 << UCAT_UNDEF, UFLAG_LETTER = 1 << UCAT_LETTER, UFLAG_NUMBER = 1 << UCAT_NUMBER,
    UFLAG_PUNCT = 1 << UCAT_PUNCT, UFLAG_MARK = 1 << UCAT_MARK, UFLAG_SYMBOL = 1 << UCAT_SYMBOL,
    UFLAG_SEPARATOR = 1 << UCAT_SEPARATOR, UFLAG_CONTROL = 1 << UCAT_CONTROL, UFLAG_SPACE = 1 << 8,
};

#define UNICODE_REPLACEMENT 0xFFFDu

enum unicode_cat unicode_category(uint32_t cp);
int unicode_is_space(uint32_t cp);
unsigned unicode_flags(uint32_t cp);

/* Decodes one code point from s[0..len) (len >= 1). Returns the bytes used (1..4). Strict UTF-8:
 * an overlong form, a surrogate, a value > 0x10FFFF or a truncated sequence gives
 * *cp = UNICODE_REPLACEMENT and consumes 1 byte. */
size_t unicode_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);
/* Writes cp as UTF-8 into out (4 bytes of room); returns the length. */
int unicode_utf8_encode(uint32_t cp, char *out);
/* Length a UTF-8 sequence announces by its lead byte (1 for ASCII and stray continuation bytes),
 * as SentencePiece splits text into characters. */
size_t unicode_utf8_lead_len(unsigned char lead);

/* Streaming validation: how many bytes of s[0..len) form a complete valid prefix, appending the
 * text to out with every maximal invalid subpart replaced by U+FFFD. Bytes of a sequence that
 * may still complete are left (at most 3) unless final is set, in which case they become
 * U+FFFD too. Returns the number of input bytes consumed; *out_len grows (out needs room for
 * 3 * len bytes). */
size_t unicode_utf8_sanitize(const unsigned char *s, size_t len, int final, char *out, size_t *out_len);

/* Canonical composition (NFC) of s[0..len) into a new malloc'ed buffer of *out_len bytes (+ NUL).
 * Bytes that are not valid UTF-8 pass through unchanged and block composition. NULL when out of
 * memory. */
char *unicode_nfc(const char *s, size_t len, size_t *out_len);

/* Generated tables (unicode_tables.c). */
extern const uint32_t unicode_n_cat_runs;
extern const uint32_t unicode_cat_start[];
extern const uint8_t unicode_cat_value[];
extern const uint32_t unicode_n_ccc;
extern const uint32_t unicode_ccc[][2];
extern const uint32_t unicode_n_decomp;
extern const uint32_t unicode_decomp[][3];
extern const uint32_t unicode_n_comp;
extern const uint32_t unicode_comp[][3];
extern const uint32_t unicode_n_white_space;
extern const uint32_t unicode_white_space[];

#endif
