/*
 * pipeline: steps that depend on earlier answers, written with
 * plm_submit. Each file named on the command line is described (step 1,
 * all files at once); as soon as one description arrives, its completion
 * callback submits the step that needs it (step 2: a one-line changelog
 * entry from the description); when every step 2 is done, one last call
 * summarises them all (step 3, plm_complete). No step waits for another
 * file's answers, and all of them share one client: its connections, its
 * limits and its concurrency (at most 8 requests on the wire).
 *
 * The provider comes from the environment: OPENAI_API_KEY and
 * OPENAI_BASE_URL (any OpenAI-compatible server), the model from PLM_MODEL
 * (default gpt-4o-mini). Uses only the public header.
 *
 *   pipeline FILE...
 *
 * Prints, per file in the order given, its description and its entry,
 * then the summary. Exit status: 0 all done, 1 a step failed, 2 usage or
 * setup error.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parallm.h"

#define MAX_FILE_BYTES (16 * 1024)

typedef struct file_job {
    const char *path;
    char *text;            /* the file's start */
    plm_request *describe; /* step 1 */
    plm_request *entry;    /* step 2, built from step 1's answer */
    plm_call *entry_call;  /* its handle, for the final wait */
    char *description;     /* step 1's answer */
    const char *failure;   /* why the file has no entry */
    struct pipeline *pipe;
} file_job;

typedef struct pipeline {
    plm_client *client;
    const char *model;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending; /* files whose step 2 is not submitted (or failed) yet */
} pipeline;

static char *read_start(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (!f)
        return NULL;
    buf = malloc(MAX_FILE_BYTES + 1);
    if (buf) {
        n = fread(buf, 1, MAX_FILE_BYTES, f);
        buf[n] = '\0'; /* a NUL byte inside ends the text early */
    }
    fclose(f);
    return buf;
}

static plm_request *chat(const char *model, const char *system,
                         const char *user)
{
    plm_request *req = NULL;
    if (plm_request_new_chat(&req, PLM_PROVIDER_OPENAI, model) != PLM_OK)
        return NULL;
    if (plm_request_set_system(req, system) != PLM_OK ||
        plm_request_add_message(req, "user", user) != PLM_OK ||
        plm_request_set_max_tokens(req, 200) != PLM_OK) {
        plm_request_free(req);
        return NULL;
    }
    return req;
}

static void step_submitted(pipeline *p)
{
    pthread_mutex_lock(&p->mu);
    if (--p->pending == 0)
        pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Step 1 done (on the client's engine thread): submit step 2 at once. It
 * must not block here; submitting is fine. */
static void described(plm_call *call, void *user_data)
{
    file_job *f = user_data;
    const plm_result *res = plm_call_result(call);
    const char *text = res ? plm_result_content(res) : NULL;

    if (!res || plm_result_code(res) != PLM_OK || !text) {
        f->failure = res ? plm_result_error_message(res) : "out of memory";
        f->failure = strdup(f->failure ? f->failure : "failed");
    } else {
        f->description = strdup(text);
        f->entry = chat(f->pipe->model,
                        "Turn this description of a file into one "
                        "changelog line.",
                        f->description ? f->description : "");
        if (!f->description || !f->entry ||
            plm_submit(f->pipe->client, f->entry, NULL, NULL, &f->entry_call) !=
                PLM_OK)
            f->failure = strdup("could not submit the second step");
    }
    step_submitted(f->pipe);
}

static int run(pipeline *p, file_job *files, int n)
{
    char *all = NULL;
    size_t len = 0;
    plm_result *summary = NULL;
    plm_request *final;
    int i, failed = 0;

    for (i = 0; i < n; i++) {
        file_job *f = &files[i];
        f->pipe = p;
        f->text = read_start(f->path);
        f->describe = f->text ? chat(p->model,
                                     "Describe this file in one "
                                     "sentence.",
                                     f->text)
                              : NULL;
        if (!f->describe ||
            plm_submit(p->client, f->describe, described, f, NULL) != PLM_OK) {
            f->failure = strdup(f->text ? "could not submit" : "unreadable");
            step_submitted(p);
        }
    }
    /* Every step 2 is submitted (or its file failed); now wait for each
     * entry and join them for the summary. */
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < n; i++) {
        file_job *f = &files[i];
        const plm_result *res;
        const char *entry;
        if (f->entry_call)
            plm_call_wait(f->entry_call, -1);
        res = f->entry_call ? plm_call_result(f->entry_call) : NULL;
        entry = res && plm_result_code(res) == PLM_OK ? plm_result_content(res)
                                                      : NULL;
        if (!entry) {
            failed = 1;
            printf("%s: failed: %s\n", f->path,
                   f->failure ? f->failure
                   : res      ? plm_result_error_message(res)
                              : "no answer");
            continue;
        }
        printf("%s\n  description: %s\n  entry: %s\n", f->path, f->description,
               entry);
        all = realloc(all, len + strlen(entry) + 2);
        if (!all)
            return 2;
        memcpy(all + len, entry, strlen(entry));
        len += strlen(entry);
        all[len++] = '\n';
        all[len] = '\0';
    }
    final = chat(p->model,
                 "Summarise these changelog lines in one "
                 "sentence.",
                 all ? all : "");
    if (final && plm_complete(p->client, final, &summary) == PLM_OK)
        printf("summary: %s\n", plm_result_content(summary));
    else
        failed = 1;
    plm_result_free(summary);
    plm_request_free(final);
    free(all);
    return failed;
}

int main(int argc, char **argv)
{
    plm_client_options co = PLM_CLIENT_OPTIONS_INIT;
    plm_start_options so = PLM_START_OPTIONS_INIT;
    pipeline p;
    file_job *files;
    int i, rc, n = argc - 1;

    if (n < 1) {
        fprintf(stderr, "usage: pipeline FILE...\n");
        return 2;
    }
    co.openai_api_key = getenv("OPENAI_API_KEY");
    co.openai_base_url = getenv("OPENAI_BASE_URL");
    memset(&p, 0, sizeof p);
    p.model = getenv("PLM_MODEL") ? getenv("PLM_MODEL") : "gpt-4o-mini";
    p.pending = n;
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    so.max_concurrent = 8;
    if (plm_client_new(&p.client, &co) != PLM_OK ||
        plm_client_start(p.client, &so) != PLM_OK) {
        fprintf(stderr, "pipeline: %s\n", plm_last_error());
        return 2;
    }
    files = calloc((size_t)n, sizeof *files);
    if (!files)
        return 2;
    for (i = 0; i < n; i++)
        files[i].path = argv[i + 1];
    rc = run(&p, files, n);
    plm_client_free(p.client);
    for (i = 0; i < n; i++) {
        plm_call_free(files[i].entry_call);
        plm_request_free(files[i].describe);
        plm_request_free(files[i].entry);
        free(files[i].text);
        free(files[i].description);
        free((char *)files[i].failure);
    }
    free(files);
    return rc;
}
