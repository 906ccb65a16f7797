/*
 * The state of one `parallm run`, shared by the engine callbacks
 * (cmd_run.c) and the set-up that opens files and makes the client
 * (run_setup.c).
 */
#ifndef CLI_RUN_CTX_H
#define CLI_RUN_CTX_H

#include "mock.h"
#include "presets.h"
#include "run.h"
#include "run_options.h"

/* Output lines held between two writes, at most. */
#define RUN_HELD_MAX 64

/* What each request in flight carries back to its completion. */
typedef struct pending {
    uint64_t line_no;
    uint64_t line_hash; /* run_input_hash of its input line */
    run_prior prior;    /* what the output held for it before */
    char custom_id[];
} pending;

typedef struct run_ctx {
    const run_options *opt;
    plm_client *client;
    run_line_reader *reader;
    run_out *out;
    run_idset *ids;
    run_progress *progress;
    run_counts counts;
    int simulated;
    int have_key[2]; /* per plm_provider: key or base URL given */
    uint64_t serial_base;
    uint64_t serial;
    double deadline;       /* monotonic; 0 = none */
    int io_error;          /* output or input failed: run aborted */
    int fatal;             /* auth/quota/missing key: run aborted */
    int write_interrupted; /* a blocked write given up at a signal */
    uint64_t listed_invalid;
    plm_request **grave; /* finished requests, freed outside callbacks */
    size_t ngrave, capgrave;
    /* Lines held for this round's write (cmd_run.c); a full list is
     * written at once. */
    run_held held[RUN_HELD_MAX];
    size_t nheld;
    int in_fd;         /* INPUT, -1 until opened */
    int in_regular;    /* INPUT is a regular file (can be read on) */
    int input_eof;     /* the source read INPUT to its end */
    int input_error;   /* reading INPUT failed */
    plm_mock *mock;    /* --provider mock's server, or NULL */
    char mock_url[64]; /* its base URL */
    /* The API keys the client sends, masked wherever the command
     * writes; NULL-terminated. */
    const char *secrets[3];
    char breaker_note[256];      /* the first "circuit breaker open" failure */
    int unreachable;             /* a request failed without an HTTP answer */
    cli_preset_setup preset;     /* --provider PRESET's base URL, key, query */
    struct run_metrics *metrics; /* --metrics-*, --trace; NULL = none */
} run_ctx;

/* Messages on stderr step around the progress line. */
void run_say(run_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The library's log, on stderr. */
void run_log_to_stderr(plm_log_level level, const char *message,
                       void *user_data);
/* Says which key is missing; where: "" or "line N: ". */
void run_missing_key_message(int provider, const char *where);
/* Everything before the run: options for the client and its keys, INPUT,
 * OUTPUT (resume) and the client itself. -1 to go on, or an exit code. */
int run_set_up(run_ctx *ctx);
/* Refuses an unreadable --ca-file before anything starts. 0 or -1 after
 * saying why. */
int run_check_ca_file(const char *path);
/* Refuses a --summary-json that names the input or the output file
 * (which writing it would destroy). 0 or -1 after saying why. */
int run_check_paths(const run_options *opt);
void run_ctx_free(run_ctx *ctx);

#endif
