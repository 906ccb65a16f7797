/*
 * `--provider` presets: widely used OpenAI-compatible services, each one
 * row of a table (presets.c) saying where its API is, which environment
 * variables hold its key and base URL, and how it wants the key and
 * paths. A preset turns into plm_client_options for the OpenAI protocol.
 */
#ifndef CLI_PRESETS_H
#define CLI_PRESETS_H

#include <stddef.h>
#include <stdio.h>

#include "parallm.h"

typedef struct cli_preset {
    const char *name;         /* --provider NAME */
    const char *base_url;     /* default; NULL: the env variable's only */
    const char *env_key;      /* variable holding the key; NULL: none */
    int key_required;         /* 1: refuse to start without it */
    const char *env_base_url; /* conventional override; NULL: none */
    const char *bare_path;    /* appended to a base URL without a path
                                 (Azure's endpoint -> .../openai) */
    const char *key_header;   /* NULL: Authorization: Bearer */
    const char *query_name;   /* a query for every request, or NULL */
    const char *env_query;    /* variable holding its value */
    const char *query_default;
    int deployment_paths; /* /deployments/{model}/... (Azure) */
    const char *description;
} cli_preset;

/* The presets, in table order; NULL past the end. */
const cli_preset *cli_preset_at(size_t i);
/* The preset called name, or NULL. */
const cli_preset *cli_preset_find(const char *name);

/* What a preset resolved to: the strings copts points at. */
typedef struct cli_preset_setup {
    char base_url[2048];
    char query[512];
    const char *key; /* from the environment, or NULL */
} cli_preset_setup;

/*
 * Fills copts (the OpenAI fields) for preset p: the base URL from
 * base_url_option (--base-url), else the preset's variable, else its
 * default; the key from its variable; the key header, query and
 * deployment paths. Never reads OPENAI_API_KEY or OPENAI_BASE_URL. Returns
 * 0, or prints "parallm CMD: ..." on stderr naming the missing variable
 * and returns -1 (a usage error: nothing has been sent). copts points into
 * setup, which must outlive it.
 */
int cli_preset_apply(const cli_preset *p, const char *cmd,
                     const char *base_url_option, cli_preset_setup *setup,
                     plm_client_options *copts);

/* The choices of a --provider option: the nfixed names in fixed, then the
 * presets' names, NULL-terminated, in buf (cap entries). Returns buf. */
const char *const *cli_preset_choices(const char *const *fixed, size_t nfixed,
                                      const char **buf, size_t cap);

/* Prints the presets, two lines each, indented by indent spaces: name,
 * key variable and description; base URL. */
void cli_presets_list(FILE *out, int indent);

#endif
