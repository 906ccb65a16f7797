/*
 * describe_files: asks a model to describe each file named on the command
 * line, all files in parallel with plm_gather() (at most 5 requests at
 * once), and prints every answer, or the reason there is none, in the order
 * the files were given. Each answer is a JSON object
 * {"summary": "...", "references": [...]}.
 *
 * The provider comes from the environment: OPENAI_API_KEY and
 * OPENAI_BASE_URL (any OpenAI-compatible server), the model from PLM_MODEL
 * (default gpt-4o-mini). Uses only the public header.
 *
 *   describe_files FILE...
 *
 * Exit status: 0 every file described, 1 some failed, 2 usage or setup
 * error.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parallm.h"

#define MAX_CONCURRENT 5
/* Larger files are cut: a description needs the gist, not every byte, and
 * the prompt must fit the model's context. */
#define MAX_FILE_BYTES (64 * 1024)

static const char system_prompt[] =
    "You describe source files for a developer who has not read them. "
    "Answer with one JSON object and nothing else: "
    "{\"summary\": \"one or two sentences on what the file is for\", "
    "\"references\": [\"other files, modules or libraries it uses\"]}.";

/* Reads up to MAX_FILE_BYTES of path as a NUL-terminated string into
 * *out (the caller frees it). Sets *cut when the file was longer. Returns
 * 0, or -1 with errno's story left to the caller. */
static int read_file(const char *path, char **out, int *cut)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len;
    int rc = -1;

    *out = NULL;
    *cut = 0;
    if (!f)
        return -1;
    buf = malloc(MAX_FILE_BYTES + 1);
    if (!buf)
        goto out;
    len = fread(buf, 1, MAX_FILE_BYTES, f);
    if (ferror(f))
        goto out;
    *cut = fgetc(f) != EOF;
    buf[len] = '\0';
    if (strlen(buf) != len) {
        /* A NUL byte: not text, and the prompt would be cut at it. */
        goto out;
    }
    *out = buf;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    fclose(f);
    return rc;
}

/* Builds the chat request for one file. Returns a plm_code; on failure
 * *why says what went wrong (static text). */
static int build_request(plm_request **out, const char *model, const char *path,
                         const char **why)
{
    plm_request *req = NULL;
    char *text = NULL, *prompt = NULL;
    size_t size;
    int cut, rc;

    *out = NULL;
    if (read_file(path, &text, &cut) != 0) {
        *why = "cannot read the file as text";
        return PLM_EIO;
    }
    size = strlen(path) + strlen(text) + 128;
    prompt = malloc(size);
    if (!prompt) {
        *why = "out of memory";
        rc = PLM_ENOMEM;
        goto fail;
    }
    snprintf(prompt, size, "File: %s%s\n\n%s", path,
             cut ? " (only its beginning is shown)" : "", text);

    rc = plm_request_new_chat(&req, PLM_PROVIDER_OPENAI, model);
    if (rc == PLM_OK)
        rc = plm_request_set_system(req, system_prompt);
    if (rc == PLM_OK)
        rc = plm_request_add_message(req, "user", prompt);
    if (rc == PLM_OK)
        rc = plm_request_set_temperature(req, 0.0);
    if (rc == PLM_OK)
        rc = plm_request_set_json_response(req, 1);
    if (rc != PLM_OK) {
        /* Strings must be UTF-8 to go into JSON. */
        *why = rc == PLM_EINVAL ? "the file is not UTF-8 text"
                                : plm_strerror(rc);
        goto fail;
    }
    free(text);
    free(prompt);
    *out = req;
    return PLM_OK;
fail:
    plm_request_free(req);
    free(text);
    free(prompt);
    return rc;
}

int main(int argc, char **argv)
{
    const char *model = getenv("PLM_MODEL");
    plm_gather_options opts = PLM_GATHER_OPTIONS_INIT;
    plm_client *client = NULL;
    plm_request **reqs = NULL; /* the requests that could be built */
    plm_result **results = NULL;
    size_t *slot = NULL;     /* file i's request, or SIZE_MAX */
    const char **why = NULL; /* file i's local error */
    size_t nfiles, nreqs = 0, failed = 0;
    int rc, status = 2;

    if (argc < 2) {
        fputs("usage: describe_files FILE...\n", stderr);
        return 2;
    }
    if (!model || !*model)
        model = "gpt-4o-mini";
    nfiles = (size_t)(argc - 1);

    reqs = calloc(nfiles, sizeof *reqs);
    results = calloc(nfiles, sizeof *results);
    slot = calloc(nfiles, sizeof *slot);
    why = calloc(nfiles, sizeof *why);
    if (!reqs || !results || !slot || !why) {
        fputs("describe_files: out of memory\n", stderr);
        goto out;
    }

    /* NULL options: keys and base URLs from the environment. */
    rc = plm_client_new(&client, NULL);
    if (rc != PLM_OK) {
        fprintf(stderr, "describe_files: cannot create the client: %s\n",
                plm_strerror(rc));
        goto out;
    }

    for (size_t i = 0; i < nfiles; i++) {
        plm_request *req;

        slot[i] = SIZE_MAX;
        if (build_request(&req, model, argv[i + 1], &why[i]) == PLM_OK) {
            slot[i] = nreqs;
            reqs[nreqs++] = req;
        }
    }

    opts.max_concurrent = MAX_CONCURRENT;
    opts.return_errors = 1;
    rc = plm_gather(client, reqs, nreqs, results, &opts);
    if (rc != PLM_OK) {
        fprintf(stderr, "describe_files: %s\n", plm_strerror(rc));
        goto out;
    }

    for (size_t i = 0; i < nfiles; i++) {
        const plm_result *res;

        printf("== %s\n", argv[i + 1]);
        if (slot[i] == SIZE_MAX) {
            printf("error: %s\n\n", why[i]);
            failed++;
            continue;
        }
        res = results[slot[i]];
        if (plm_result_code(res) == PLM_OK && plm_result_content(res)) {
            printf("%s\n\n", plm_result_content(res));
        } else {
            printf("error: %s (%s)\n\n", plm_result_error_message(res),
                   plm_strerror(plm_result_code(res)));
            failed++;
        }
    }
    status = failed > 0 ? 1 : 0;

out:
    if (results)
        plm_results_free(results, nreqs);
    for (size_t i = 0; i < nreqs; i++)
        plm_request_free(reqs[i]);
    plm_client_free(client);
    free(reqs);
    free(results);
    free(slot);
    free(why);
    return status;
}
