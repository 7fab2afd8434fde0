/* jinja_lex: splits a template into text and tag tokens as jinja2's lexer does with
 * trim_blocks=True and lstrip_blocks=True: "{%-" / "-%}" strip all whitespace on that side,
 * a block or comment end eats one following newline, and a block or comment tag alone on its
 * line drops the spaces before it. Inside tags it produces names, numbers, decoded string
 * literals and operators; "}}" / "%}" only end a tag when no bracket is open. */
#define JINJA_INTERNAL
#include "template/jinja.h"
#include <stdlib.h>
#include <string.h>

struct lexer {
    jctx *c;
    const char *s;
    size_t n, pos;
    int line;
    int line_starting;   /* the last consumed piece ended with a newline (or nothing consumed) */
};

static void push_tok(struct lexer *L, enum jtok_type t, const char *p, size_t n, int line) {
    jctx *c = L->c;
    if (c->n_toks % 256 == 0) {
        jtok *nt = jinja_alloc(c, (c->n_toks + 256) * sizeof(jtok));
        if (c->n_toks) memcpy(nt, c->toks, c->n_toks * sizeof(jtok));
        c->toks = nt;
    }
    jtok *k = &c->toks[c->n_toks++];
    memset(k, 0, sizeof *k);
    k->t = t;
    k->p = p;
    k->n = n;
    k->line = line;
}

static int is_space(char ch) { return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v'; }

static void advance(struct lexer *L, size_t to) {
    for (size_t i = L->pos; i < to; i++)
        if (L->s[i] == '\n') L->line++;
    L->pos = to;
}

/* Emits text s[a..b) with newlines normalized to "\n". */
static void emit_text(struct lexer *L, size_t a, size_t b, int line) {
    if (a >= b) return;
    char *t = jinja_alloc(L->c, b - a + 1);
    size_t k = 0;
    for (size_t i = a; i < b; i++) {
        if (L->s[i] == '\r') {
            t[k++] = '\n';
            if (i + 1 < b && L->s[i + 1] == '\n') i++;
        } else t[k++] = L->s[i];
    }
    t[k] = 0;
    push_tok(L, TK_TEXT, t, k, line);
}

/* After a tag end at L->pos: "-" strips all whitespace, otherwise trim_blocks eats one newline. */
static void after_end(struct lexer *L, int minus, int trim_newline) {
    size_t p = L->pos;
    if (minus) {
        while (p < L->n && is_space(L->s[p])) p++;
    } else if (trim_newline) {
        if (p < L->n && L->s[p] == '\n') p++;
        else if (p + 1 < L->n && L->s[p] == '\r' && L->s[p + 1] == '\n') p += 2;
        else if (p < L->n && L->s[p] == '\r') p++;
    }
    L->line_starting = p > L->pos ? (L->s[p - 1] == '\n' || L->s[p - 1] == '\r') : 0;
    advance(L, p);
}

static char *decode_string(struct lexer *L, size_t a, size_t b, size_t *out_n) {
    char *o = jinja_alloc(L->c, (b - a) + 1);
    size_t k = 0;
    for (size_t i = a; i < b; i++) {
        char ch = L->s[i];
        if (ch == '\r') { o[k++] = '\n'; if (i + 1 < b && L->s[i + 1] == '\n') i++; continue; }
        if (ch != '\\' || i + 1 >= b) { o[k++] = ch; continue; }
        char e = L->s[++i];
        uint32_t cp = 0;
        int hex = 0;
        switch (e) {
        case 'n': o[k++] = '\n'; break;
        case 't': o[k++] = '\t'; break;
        case 'r': o[k++] = '\r'; break;
        case 'a': o[k++] = '\a'; break;
        case 'b': o[k++] = '\b'; break;
        case 'f': o[k++] = '\f'; break;
        case 'v': o[k++] = '\v'; break;
        case '\\': o[k++] = '\\'; break;
        case '\'': o[k++] = '\''; break;
        case '"': o[k++] = '"'; break;
        case '\n': break; /* line continuation */
        case 'x': hex = 2; break;
        case 'u': hex = 4; break;
        case 'U': hex = 8; break;
        default:
            if (e >= '0' && e <= '7') {
                int d = 0;
                while (d < 3 && i < b && L->s[i] >= '0' && L->s[i] <= '7') { cp = cp * 8 + (uint32_t)(L->s[i] - '0'); i++; d++; }
                i--;
                k += (size_t)json_utf8_encode(cp, o + k);
            } else { o[k++] = '\\'; o[k++] = e; }
            break;
        }
        if (hex) {
            if (i + (size_t)hex >= b) jinja_fail(L->c, JINJA_ERR_SYNTAX, L->line, "truncated \\%c escape in string literal", e);
            for (int d = 0; d < hex; d++) {
                char h = L->s[i + 1 + (size_t)d];
                cp <<= 4;
                if (h >= '0' && h <= '9') cp |= (uint32_t)(h - '0');
                else if (h >= 'a' && h <= 'f') cp |= (uint32_t)(h - 'a' + 10);
                else if (h >= 'A' && h <= 'F') cp |= (uint32_t)(h - 'A' + 10);
                else jinja_fail(L->c, JINJA_ERR_SYNTAX, L->line, "bad \\%c escape in string literal", e);
            }
            i += (size_t)hex;
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                jinja_fail(L->c, JINJA_ERR_SYNTAX, L->line, "escape \\%c gives an invalid code point", e);
            /* \x escapes of 0x80..0xFF are Latin-1 code points in Python, encoded here as UTF-8 */
            k += (size_t)json_utf8_encode(cp, o + k);
        }
    }
    o[k] = 0;
    *out_n = k;
    return o;
}

static const char *const ops2[] = {"//", "**", "==", "!=", "<=", ">="};

/* Tokens of one tag up to its end marker; returns with L->pos after the marker. */
static void lex_tag(struct lexer *L, int is_block) {
    int depth = 0;
    int start_line = L->line;
    for (;;) {
        while (L->pos < L->n && is_space(L->s[L->pos])) advance(L, L->pos + 1);
        if (L->pos >= L->n)
            jinja_fail(L->c, JINJA_ERR_SYNTAX, start_line, "unexpected end of template: tag opened here is not closed");
        const char *s = L->s + L->pos;
        size_t left = L->n - L->pos;
        if (depth == 0) {
            /* "-" strips; "+%}" keeps the newline trim_blocks would eat ("+}}" is not Jinja) */
            int minus = s[0] == '-' || (is_block && s[0] == '+');
            size_t m = minus ? 1 : 0;
            if (left >= m + 2 && s[m] == (is_block ? '%' : '}') && s[m + 1] == '}') {
                int strip = s[0] == '-';
                int keep = s[0] == '+';
                advance(L, L->pos + m + 2);
                push_tok(L, is_block ? TK_BLOCK_END : TK_VAR_END, NULL, 0, L->line);
                after_end(L, strip, is_block && !keep);
                return;
            }
        }
        int line = L->line;
        char ch = s[0];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_') {
            size_t k = 1;
            while (k < left && ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') || s[k] == '_' || (s[k] >= '0' && s[k] <= '9'))) k++;
            push_tok(L, TK_NAME, s, k, line);
            advance(L, L->pos + k);
            continue;
        }
        if (ch >= '0' && ch <= '9') {
            size_t k = 0;
            int is_float = 0;
            char num[64];
            size_t nn = 0;
            while (k < left && ((s[k] >= '0' && s[k] <= '9') || s[k] == '_')) { if (s[k] != '_' && nn < 63) num[nn++] = s[k]; k++; }
            if (k + 1 < left && s[k] == '.' && s[k + 1] >= '0' && s[k + 1] <= '9') {
                is_float = 1;
                num[nn < 63 ? nn++ : nn] = '.';
                k++;
                while (k < left && ((s[k] >= '0' && s[k] <= '9') || s[k] == '_')) { if (s[k] != '_' && nn < 63) num[nn++] = s[k]; k++; }
            }
            if (k < left && (s[k] == 'e' || s[k] == 'E')) {
                size_t e = k + 1;
                if (e < left && (s[e] == '+' || s[e] == '-')) e++;
                if (e < left && s[e] >= '0' && s[e] <= '9') {
                    is_float = 1;
                    while (k < e && nn < 63) num[nn++] = s[k++];
                    while (k < left && s[k] >= '0' && s[k] <= '9') { if (nn < 63) num[nn++] = s[k]; k++; }
                }
            }
            num[nn] = 0;
            push_tok(L, is_float ? TK_FLOAT : TK_INT, s, k, line);
            jtok *t = &L->c->toks[L->c->n_toks - 1];
            if (is_float) t->f = strtod(num, NULL);
            else {
                if (nn > 18) jinja_fail(L->c, JINJA_ERR_UNSUPPORTED, line, "integer literal too large");
                t->i = strtoll(num, NULL, 10);
            }
            advance(L, L->pos + k);
            continue;
        }
        if (ch == '\'' || ch == '"') {
            size_t k = 1;
            while (k < left && s[k] != ch) k += (s[k] == '\\' && k + 1 < left) ? 2 : 1;
            if (k >= left) jinja_fail(L->c, JINJA_ERR_SYNTAX, line, "unterminated string literal");
            size_t dn;
            char *d = decode_string(L, L->pos + 1, L->pos + k, &dn);
            push_tok(L, TK_STRING, d, dn, line);
            advance(L, L->pos + k + 1);
            continue;
        }
        size_t oplen = 0;
        for (size_t i = 0; i < sizeof ops2 / sizeof ops2[0]; i++)
            if (left >= 2 && s[0] == ops2[i][0] && s[1] == ops2[i][1]) oplen = 2;
        if (!oplen && strchr("+-*/%~|.,:()[]{}<>=", ch) && ch) oplen = 1;
        if (!oplen) {
            if (ch == '%' || ch == '}') oplen = 1;
            else jinja_fail(L->c, JINJA_ERR_SYNTAX, line, "unexpected character '%c' in tag",
                            (unsigned char)ch >= 0x20 && (unsigned char)ch < 0x7f ? ch : '?');
        }
        if (ch == '(' || ch == '[' || ch == '{') depth++;
        if ((ch == ')' || ch == ']' || ch == '}') && depth > 0) depth--;
        push_tok(L, TK_OP, s, oplen, line);
        advance(L, L->pos + oplen);
    }
}

/* Is "{%[-+]? raw [-]?%}" (or endraw) at p? Returns the length of the tag, 0 if not. */
static size_t match_word_tag(const char *s, size_t left, const char *word, int *minus_before, int *minus_after) {
    size_t k = 2;
    *minus_before = *minus_after = 0;
    if (k < left && (s[k] == '-' || s[k] == '+')) { *minus_before = s[k] == '-'; k++; }
    while (k < left && is_space(s[k])) k++;
    size_t wl = strlen(word);
    if (left - k < wl || memcmp(s + k, word, wl)) return 0;
    k += wl;
    if (k < left && !is_space(s[k]) && s[k] != '-' && s[k] != '%' && s[k] != '+') return 0;
    while (k < left && is_space(s[k])) k++;
    if (k < left && (s[k] == '-' || s[k] == '+')) { *minus_after = s[k] == '-'; k++; }
    if (left - k < 2 || s[k] != '%' || s[k + 1] != '}') return 0;
    return k + 2;
}

/* lstrip_blocks / "{%-" handling on the text that precedes a tag. Returns the new text end. */
static size_t strip_before(struct lexer *L, size_t text_start, size_t text_end, char kind, char sign) {
    if (sign == '-') {
        while (text_end > text_start && is_space(L->s[text_end - 1])) text_end--;
        return text_end;
    }
    if (sign == '+' || kind == '{') return text_end;
    size_t l = text_end;
    while (l > text_start && L->s[l - 1] != '\n' && L->s[l - 1] != '\r') l--;
    if (l == text_start && !L->line_starting) return text_end;
    for (size_t i = l; i < text_end; i++)
        if (!is_space(L->s[i])) return text_end;
    return l;
}

void jinja_lex(jctx *c, const char *src, size_t n) {
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l = json_utf8_decode((const unsigned char *)src + i, n - i, &cp);
        if (!l) jinja_fail(c, JINJA_ERR_SYNTAX, 0, "template is not valid UTF-8 (byte offset %zu)", i);
        i += (size_t)l;
    }
    /* keep_trailing_newline=False: one final newline is not part of the template */
    if (n && src[n - 1] == '\n') n--;
    if (n && src[n - 1] == '\r') n--;
    struct lexer L = {c, src, n, 0, 1, 1};
    while (L.pos < L.n) {
        size_t text_start = L.pos, p = L.pos;
        const char *tag = NULL;
        while (p + 1 < L.n) {
            if (L.s[p] == '{' && (L.s[p + 1] == '{' || L.s[p + 1] == '%' || L.s[p + 1] == '#')) { tag = L.s + p; break; }
            p++;
        }
        if (!tag) {
            emit_text(&L, text_start, L.n, L.line);
            advance(&L, L.n);
            break;
        }
        char kind = tag[1];
        char sign = p + 2 < L.n ? tag[2] : 0;
        int text_line = L.line;
        size_t text_end = strip_before(&L, text_start, p, kind, sign);
        emit_text(&L, text_start, text_end, text_line);
        advance(&L, p);
        size_t left = L.n - p;
        int mb, ma;
        size_t rl;
        if (kind == '%' && (rl = match_word_tag(tag, left, "raw", &mb, &ma)) > 0) {
            advance(&L, p + rl);
            size_t q = L.pos, body_start = q;
            if (ma) while (body_start < L.n && is_space(L.s[body_start])) body_start++;
            L.line_starting = body_start > q && L.s[body_start - 1] == '\n';
            for (;; q++) {
                if (q + 1 >= L.n) jinja_fail(c, JINJA_ERR_SYNTAX, L.line, "missing {%% endraw %%}");
                size_t el;
                if (L.s[q] == '{' && L.s[q + 1] == '%' && (el = match_word_tag(L.s + q, L.n - q, "endraw", &mb, &ma)) > 0) {
                    /* "{%- endraw" strips, and lstrip_blocks applies to endraw like any block tag */
                    size_t body_end = strip_before(&L, body_start, q, '%', mb ? '-' : L.s[q + 2]);
                    emit_text(&L, body_start, body_end, L.line);
                    advance(&L, q + el);
                    after_end(&L, ma, 1);
                    break;
                }
            }
            continue;
        }
        size_t hdr = 2 + ((sign == '-' || sign == '+') ? 1 : 0);
        if (kind == '#') {
            size_t q = p + hdr;
            for (;; q++) {
                if (q + 1 >= L.n) jinja_fail(c, JINJA_ERR_SYNTAX, L.line, "unclosed comment");
                if (L.s[q] == '#' && L.s[q + 1] == '}') break;
            }
            int minus = q > p + hdr && L.s[q - 1] == '-';
            advance(&L, q + 2);
            after_end(&L, minus, 1);
            continue;
        }
        push_tok(&L, kind == '%' ? TK_BLOCK_BEGIN : TK_VAR_BEGIN, NULL, 0, L.line);
        advance(&L, p + hdr);
        L.line_starting = 0;
        lex_tag(&L, kind == '%');
    }
    push_tok(&L, TK_EOF, NULL, 0, L.line);
}
