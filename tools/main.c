/* edgellm: dispatches to the subcommands. Each lives in tools/cmd_<name>.c. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"run", cmd_run, "generate text from a prompt, streamed"},
    {"chat", cmd_chat, "interactive conversation in the terminal"},
#ifdef EDGELLM_WITH_SERVER
    {"serve", cmd_serve, "OpenAI- and Ollama-compatible HTTP server with a chat page"},
#else
    {"serve", NULL, "(not built: configure with -DEDGELLM_SERVER=ON)"},
#endif
    {"bench", cmd_bench, "prompt and generation speed, time to first token, memory"},
    {"info", cmd_info, "what a GGUF file holds"},
    {"tokenize", cmd_tokenize, "text to token ids"},
    {"template", cmd_template, "render a chat template"},
    {"logits", cmd_logits, "logits of a token sequence, as float32"},
    {"perplexity", cmd_perplexity, "perplexity of a text, and KL divergence against a base model"},
    {"imatrix", cmd_imatrix, "importance matrix of a model over a text (for quantization)"},
    {"quantize", cmd_quantize, "quantize a model (llama.cpp's file types, same bytes)"},
    {"convert", cmd_convert, "Hugging Face checkpoint (safetensors, tokenizer.json) to GGUF"},
    {"synth", cmd_synth, "write a synthetic GGUF with a real model's layout (benchmarks)"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f) {
    fprintf(f, "edgellm %s — LLM inference on the CPU from GGUF files\n\n"
               "usage: edgellm <command> [options]   (edgellm <command> --help for its options)\n\n"
               "commands:\n", edgellm_version());
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (commands[i].fn) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n  --version  print the version\n  --help     this text\n");
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return CLI_USAGE; }
    if (cli_is_help(argv[1])) { usage(stdout); return CLI_OK; }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("edgellm %s (%s)\n", edgellm_version(), edgellm_isa());
        return CLI_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name)) continue;
        if (!commands[i].fn) {
            fprintf(stderr, "edgellm: '%s' is not part of this build %s\n", argv[1], commands[i].summary);
            return CLI_USAGE;
        }
        return commands[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "edgellm: unknown command '%s' (try edgellm --help)\n", argv[1]);
    return CLI_USAGE;
}
