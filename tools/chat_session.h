/* `edgellm chat --session FILE`: the conversation (its messages as JSON, so the template can be
 * rendered again) with the token history and the sequence state of the KV cache, so that a
 * resumed conversation continues without evaluating its history again. */
#ifndef EDGELLM_CHAT_SESSION_H
#define EDGELLM_CHAT_SESSION_H
#include <stdint.h>

#include "edgellm.h"

/* A loaded session: n messages (roles are "system" / "user" / "assistant" literals; contents and
 * the arrays are malloc'ed) and the tokens of sequence 0 the state restored. */
struct chat_session {
    const char **roles;
    char **contents;
    int n;
    edgellm_token *tokens;
    int32_t n_tokens;
};

/* Writes the session atomically (path.tmp, then rename). 0 ok; -1 with a message on stderr. */
int chat_session_save(const char *cmd, const char *path, const char *const *roles, const char *const *contents, int n,
                      const edgellm_token *tokens, int32_t n_tokens, struct edgellm_context *ctx);
/* Reads path into s and restores its state into sequence 0 of ctx. 1 loaded; 0 no such file
 * (a new session); -1 corrupt or from another model (a message naming it on stderr; the file is
 * not touched). */
int chat_session_load(const char *cmd, const char *path, struct edgellm_context *ctx, struct chat_session *s);
void chat_session_free(struct chat_session *s);
#endif
