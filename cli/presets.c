/*
 * The `--provider` presets of OpenAI-compatible services: one declarative
 * table, and the code that turns a row into client options. Base URLs
 * and key variables are the services' documented ones (docs/providers.md
 * lists them with their sources).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "presets.h"

/* clang-format off */
static const cli_preset presets[] = {
    { .name = "gemini",
      .base_url = "https://generativelanguage.googleapis.com/v1beta/openai",
      .env_key = "GEMINI_API_KEY", .key_required = 1,
      .description = "Google Gemini API" },
    { .name = "azure",
      .env_base_url = "AZURE_OPENAI_ENDPOINT", .bare_path = "/openai",
      .env_key = "AZURE_OPENAI_API_KEY", .key_required = 1,
      .key_header = "api-key",
      .query_name = "api-version", .env_query = "OPENAI_API_VERSION",
      .query_default = "2024-10-21",
      .deployment_paths = 1,
      .description = "Azure OpenAI (model = deployment)" },
    { .name = "openrouter", .base_url = "https://openrouter.ai/api/v1",
      .env_key = "OPENROUTER_API_KEY", .key_required = 1,
      .description = "OpenRouter" },
    { .name = "groq", .base_url = "https://api.groq.com/openai/v1",
      .env_key = "GROQ_API_KEY", .key_required = 1,
      .description = "Groq" },
    { .name = "together", .base_url = "https://api.together.ai/v1",
      .env_key = "TOGETHER_API_KEY", .key_required = 1,
      .env_base_url = "TOGETHER_BASE_URL",
      .description = "Together AI" },
    { .name = "mistral", .base_url = "https://api.mistral.ai/v1",
      .env_key = "MISTRAL_API_KEY", .key_required = 1,
      .description = "Mistral AI" },
    { .name = "deepseek", .base_url = "https://api.deepseek.com/v1",
      .env_key = "DEEPSEEK_API_KEY", .key_required = 1,
      .description = "DeepSeek" },
    { .name = "vllm", .base_url = "http://localhost:8000/v1",
      .env_key = "VLLM_API_KEY",
      .description = "a local vLLM server" },
    { .name = "llamacpp", .base_url = "http://localhost:8080/v1",
      .env_key = "LLAMA_API_KEY",
      .description = "a local llama.cpp server" },
    { .name = "ollama", .base_url = "http://localhost:11434/v1",
      .description = "a local Ollama server" },
};
/* clang-format on */

const cli_preset *cli_preset_at(size_t i)
{
    return i < sizeof presets / sizeof presets[0] ? &presets[i] : NULL;
}

const cli_preset *cli_preset_find(const char *name)
{
    const cli_preset *p;

    for (size_t i = 0; name && (p = cli_preset_at(i)) != NULL; i++)
        if (strcmp(p->name, name) == 0)
            return p;
    return NULL;
}

const char *const *cli_preset_choices(const char *const *fixed, size_t nfixed,
                                      const char **buf, size_t cap)
{
    size_t n = 0;
    const cli_preset *p;

    for (; n < nfixed && n + 1 < cap; n++)
        buf[n] = fixed[n];
    for (size_t i = 0; (p = cli_preset_at(i)) != NULL && n + 1 < cap; i++)
        buf[n++] = p->name;
    buf[n] = NULL;
    return buf;
}

static const char *env(const char *name)
{
    const char *v = name ? getenv(name) : NULL;
    return v && *v ? v : NULL;
}

/* 1 when url has no path after its host (or only slashes). */
static int is_bare(const char *url)
{
    const char *p = strstr(url, "://");

    p = p ? p + 3 : url;
    p += strcspn(p, "/?#");
    while (*p == '/')
        p++;
    return *p == '\0' || *p == '?' || *p == '#';
}

int cli_preset_apply(const cli_preset *p, const char *cmd,
                     const char *base_url_option, cli_preset_setup *setup,
                     plm_client_options *copts)
{
    const char *base = base_url_option ? base_url_option : env(p->env_base_url);
    size_t n;

    memset(setup, 0, sizeof *setup);
    if (!base)
        base = p->base_url;
    if (!base) {
        fprintf(stderr,
                "parallm %s: --provider %s needs its endpoint: set %s "
                "(e.g. https://NAME.openai.azure.com)\n  or give --base-url\n",
                cmd, p->name, p->env_base_url);
        return -1;
    }
    setup->key = env(p->env_key);
    if (p->key_required && !setup->key) {
        fprintf(stderr, "parallm %s: --provider %s needs an API key: set %s\n",
                cmd, p->name, p->env_key);
        return -1;
    }
    n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    if (n + (p->bare_path ? strlen(p->bare_path) : 0) >=
        sizeof setup->base_url) {
        fprintf(stderr, "parallm %s: the base URL is too long\n", cmd);
        return -1;
    }
    snprintf(setup->base_url, sizeof setup->base_url, "%.*s%s", (int)n, base,
             p->bare_path && is_bare(base) ? p->bare_path : "");
    if (p->query_name) {
        const char *v = env(p->env_query);
        snprintf(setup->query, sizeof setup->query, "%s=%s", p->query_name,
                 v ? v : p->query_default);
        copts->openai_query = setup->query;
    }
    /* The library would fall back on OPENAI_API_KEY when a preset has no
     * key to give (a local server): an OpenAI key never goes to another
     * service. */
    unsetenv("OPENAI_API_KEY");
    copts->openai_api_key = setup->key;
    copts->openai_base_url = setup->base_url;
    copts->openai_api_key_header = p->key_header;
    copts->openai_deployment_paths = p->deployment_paths;
    return 0;
}

void cli_presets_list(FILE *out, int indent)
{
    const cli_preset *p;

    for (size_t i = 0; (p = cli_preset_at(i)) != NULL; i++) {
        char key[64];

        snprintf(key, sizeof key, "%s%s", p->env_key ? p->env_key : "no key",
                 p->env_key && !p->key_required ? " (optional)" : "");
        fprintf(out, "%*s%-11s%-26s %s\n%*s%-11s%s\n", indent, "", p->name, key,
                p->description, indent, "", "",
                p->base_url ? p->base_url
                            : "$AZURE_OPENAI_ENDPOINT/openai/deployments/"
                              "{model}, api-version");
    }
}
