/*
 * Internal interfaces between the files of `parallm run`: the set of
 * custom_ids (idset.c), the input line reader and validator
 * (jsonl_input.c), the output writer and resume scan (output.c), progress
 * and summary (progress.c) and small helpers (cli_util.c). Nothing here is
 * part of the library; cmd_run.c strings these pieces together.
 */
#ifndef CLI_RUN_H
#define CLI_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>

#include "parallm.h"

/* ------------------------------------------------------------------ */
/* cli_util.c                                                          */

/* Monotonic clock in seconds. */
double run_now(void);
/* 1 if colour may be used on fd (a TTY and NO_COLOR unset). */
int run_use_color(int fd);
/* Writes a JSON string literal for s (len bytes) to f, escaping
 * everything a terminal or a JSON reader could misread. */
void run_print_safe(FILE *f, const char *s, size_t len);

/* ------------------------------------------------------------------ */
/* idset.c: custom_ids kept compactly: a 128-bit keyed hash per id (the
 * ids themselves are not stored), each with a few flag bits and the line
 * it was first met on. */

enum {
    RUN_ID_DONE_OK = 1,     /* output holds a success line */
    RUN_ID_DONE_FAILED = 2, /* output holds a failure line */
    RUN_ID_SEEN = 4,        /* met in this run's input */
    RUN_ID_WRITTEN = 8      /* this run wrote a line for it */
};

typedef struct run_idset run_idset;

/* Hashes len bytes of s under key into out (two 64-bit halves). */
typedef void (*run_idset_hash_fn)(const uint64_t key[2], const char *s,
                                  size_t len, uint64_t out[2]);
/* The default: SipHash-2-4 with 128-bit output. */
void run_idset_siphash128(const uint64_t key[2], const char *s, size_t len,
                          uint64_t out[2]);

run_idset *run_idset_new(void);
/* With another hash (NULL = the default); for tests that force
 * collisions. */
run_idset *run_idset_new_with_hash(run_idset_hash_fn hash);
void run_idset_free(run_idset *set);
/* The flags of id (len bytes), or NULL if absent. With create, an absent
 * id is added with flags 0. NULL with create means out of memory (or an
 * id over 65535 bytes). The pointer stays valid until the set is freed. */
unsigned char *run_idset_find(run_idset *set, const char *id, size_t len,
                              int create);
size_t run_idset_count(const run_idset *set);
/* The input line an id was first met on (0 = not recorded), kept beside
 * its flags. */
void run_idset_set_line(unsigned char *flags, uint64_t line_no);
uint64_t run_idset_line(const unsigned char *flags);
/* Until an id is met in the input (RUN_ID_SEEN), the same bytes hold
 * the tag of the input hash of its deciding output record (0 = none). */
void run_idset_set_tag(unsigned char *flags, uint32_t tag);
uint32_t run_idset_tag(const unsigned char *flags);
/* Bytes held (for diagnostics). */
size_t run_idset_bytes(const run_idset *set);

/* ------------------------------------------------------------------ */
/* jsonl_input.c */

#define RUN_MAX_LINE (16u * 1024u * 1024u)
#define RUN_MAX_CUSTOM_ID 4096
/* Of a line over the cap, the start kept to read its custom_id from. */
#define RUN_TOO_LONG_KEEP 8192

typedef struct run_line_reader run_line_reader;

/* Reads lines from fd (not closed by the reader) with a cap: a longer
 * line is skipped and reported with *too_long = 1. */
run_line_reader *run_line_reader_new(int fd, size_t max_line);
void run_line_reader_free(run_line_reader *r);
/* 1 and the line (without its newline, NUL-terminated, borrowed until the
 * next call), 0 at end of input, -1 on a read error (errno set).
 * *no_newline is 1 for a last line without a trailing newline. */
int run_line_reader_next(run_line_reader *r, char **line, size_t *len,
                         int *too_long, int *no_newline);
/* Bytes consumed so far (through the end of the last line returned). */
uint64_t run_line_reader_offset(const run_line_reader *r);
uint64_t run_line_reader_line_no(const run_line_reader *r);

/* One input line, checked. */
typedef struct run_input_item {
    uint64_t line_no;
    char *custom_id;  /* malloc'd; the line's or "line-N" */
    int synthetic_id; /* 1 when custom_id is "line-N" */
    plm_provider provider;
    const char *method; /* static: "POST" */
    const char *url;    /* static: the endpoint's path */
    char *body;         /* "body" as the line spells it: an object */
    char error[512];    /* "" when valid; else "line N: ..." */
} run_input_item;

/* Parses and checks one line. Always fills item (free with _clear);
 * item->error says what is wrong. Returns 0, or -1 on out of memory. */
int run_input_parse(const char *line, size_t len, int too_long,
                    uint64_t line_no, run_input_item *item);
void run_input_item_clear(run_input_item *item);
/* Replaces control bytes in s, so text from the input (ids, parser
 * excerpts) printed on a terminal cannot drive it. */
void run_input_sanitize(char *s);
/* 1 for a line holding only whitespace (skipped silently). */
int run_input_blank(const char *line, size_t len);
/* --strict: checks every line of fd (duplicates included), printing each
 * problem on stderr. Returns the number of problems, or -1 on a read
 * error or out of memory. */
int64_t run_input_strict_check(int fd, const char *name);
/* Copies stdin into an unlinked temporary file (so it can be read twice)
 * and returns its descriptor, rewound; -1 with errno set on error. */
int run_input_spool_stdin(void);
/* Counts the non-blank lines of a regular file (a quick pre-pass for the
 * progress total). -1 on error. */
int64_t run_input_count_lines(int fd);
/* The hash of an input line's bytes recorded in each output record:
 * SipHash-2-4 under a fixed key, so every run computes the same. */
uint64_t run_input_hash(const char *line, size_t len);
/* Its 32-bit tag kept in the id set (never 0). */
uint32_t run_input_tag(uint64_t hash);

/* ------------------------------------------------------------------ */
/* json_text.c */

/* 1 if text (len bytes) is a JSON object or array that can go into an
 * output line as is: valid, on one line, and read back by jansson to the
 * same values. 0 means "let jansson handle it", not "invalid". */
int cli_json_embeddable(const char *text, size_t len);
/* Writes str as a JSON string literal at out, which must have room for
 * 6 * strlen(str) + 2 bytes. Returns the end, or NULL when str is not
 * UTF-8. */
char *cli_json_put_string(char *out, const char *str);
/* s (len bytes, NULs allowed) with every byte that is not part of
 * well-formed UTF-8 replaced by U+FFFD; malloc'd, NUL-terminated, its
 * length in *outlen. NULL when out of memory. */
char *cli_utf8_repair(const char *s, size_t len, size_t *outlen);
/* The longest prefix of s, at most max bytes, that does not end inside
 * a UTF-8 character. */
size_t cli_utf8_cut(const char *s, size_t max);
/* 1 if the JSON text nests arrays and objects deeper than limit. */
int cli_json_depth_over(const char *text, size_t len, int limit);
/* The text of member key of the JSON object in text (len bytes), every
 * byte as written (whitespace included), into *out (malloc'd): 0, -1 when
 * it cannot be had this way (the caller dumps the parsed value instead),
 * -2 when out of memory. For text jansson has already accepted. */
int cli_json_member_text(const char *text, size_t len, const char *key,
                         char **out);
/* A top-level member of an object, as cli_json_scan_object finds it. */
typedef struct cli_json_member {
    const char *key;   /* in: its name */
    const char *value; /* out: its value's text as written; NULL: absent */
    size_t len;
    int escaped; /* out: a string value spelled with escapes */
} cli_json_member;
/* One strict pass over an input line: 1 when text (len bytes) is a JSON
 * object that jansson reads without error under JSON_REJECT_DUPLICATES
 * (a subset: '\r' counts as whitespace; escaped keys, very deep or wide
 * objects, numbers near jansson's limits are left to jansson), with
 * m[0..n) filled in; 0 when the scan cannot tell, and jansson decides
 * (and words the error). */
int cli_json_scan_object(const char *text, size_t len, cli_json_member *m,
                         size_t n);

/* ------------------------------------------------------------------ */
/* output.c */

typedef struct run_out run_out;

/* What a record says about its custom_id: success, or the class of its
 * failure (summaries count failures by class). */
enum run_class {
    RUN_CLASS_OK = 0,
    RUN_CLASS_INVALID,    /* refused input line */
    RUN_CLASS_AUTH,       /* 401/403, authentication or quota error */
    RUN_CLASS_RATE,       /* 429 */
    RUN_CLASS_CLIENT,     /* another 4xx */
    RUN_CLASS_SERVER,     /* 5xx or another non-2xx status */
    RUN_CLASS_CONNECTION, /* no answer: connection error or timeout */
    RUN_CLASS_OTHER,      /* any other local failure */
    RUN_CLASS_COUNT
};
/* "invalid_input", "auth", "rate_limited", "client_error", ... */
const char *run_class_name(int cls);
/* The class of a record: status_code (0 when "response" is null) and
 * error.code (NULL when "error" is null). */
int run_class_of(int status, const char *error_code);

/* The id set's flag byte keeps the class of an id's last failure. */
#define RUN_ID_CLASS_SHIFT 4
#define RUN_ID_CLASS(flags) (((flags) >> RUN_ID_CLASS_SHIFT) & 7)

/* The field of every record holding the hash of the input line it
 * answers: 16 hex digits of run_input_hash(). */
#define RUN_INPUT_HASH_KEY "input_hash"

typedef struct run_resume_info {
    uint64_t lines;          /* whole lines found in the existing output */
    uint64_t ok;             /* distinct custom_ids with a success line */
    uint64_t failed;         /* distinct custom_ids with failures only */
    uint64_t simulated;      /* --provider mock records a real run ignores */
    uint64_t repaired_bytes; /* torn tail removed */
} run_resume_info;

/* How run_out_open reads an existing file. */
enum {
    RUN_OUT_OVERWRITE = 1,       /* truncate instead of resuming */
    RUN_OUT_IGNORE_SIMULATED = 2 /* a real run: mock answers do not count */
};

/*
 * Opens path for appending. Unless RUN_OUT_OVERWRITE, reads the existing
 * records into ids (RUN_ID_DONE_OK / RUN_ID_DONE_FAILED, the class of the
 * last failure, and the input hash tag of the deciding record, see
 * run_idset_tag) and cuts a torn last line: one without its newline that
 * begins as every parallm record does. Returns 0; -1 with a message in
 * err when the file cannot be opened or read; -2 when it holds a line
 * that is not a parallm record (nothing was changed).
 */
int run_out_open(run_out **out, const char *path, int flags, run_idset *ids,
                 run_resume_info *info, char *err, size_t errlen);
/* 1 when the output is a regular file (resumable). */
int run_out_regular(const run_out *o);
/* When set, a write blocked by a reader that does not read gives up
 * (EINTR) once it points at 2 or more: the count of SIGINTs. */
extern volatile sig_atomic_t *run_out_stop;
/* Appends one whole line (the newline included in buf) with one write();
 * a failed write leaves the file as it was. 0, or -1 with errno set. */
int run_out_write(run_out *o, const char *buf, size_t len);
/* Keeps whole lines (a copy of buf) for the next run_out_flush: the lines
 * a round of the run produces go out in one write(). 0, or -1 (out of
 * memory; nothing kept). */
int run_out_hold(run_out *o, const char *buf, size_t len);
/* Bytes held and not yet written. */
size_t run_out_held(const run_out *o);
/* Appends the held lines with one write() (more only if it is short); a
 * failure leaves the file ending at the last whole line. The lines now in
 * the file, in the order held, go to *lines_written. 0, or -1 with errno
 * set; either way nothing stays held. */
int run_out_flush(run_out *o, size_t *lines_written);
/* fsync when 100 lines or 1 s have gone by since the last one, but not
 * within 0.1 s of it, on the file's sync thread (output_sync.c) when it
 * has one: then a failed sync is the error of the next call. 0, or -1
 * with errno set. */
int run_out_sync_maybe(run_out *o);
/* How many syncs run_out_sync_maybe has asked for. */
unsigned long run_out_syncs(const run_out *o);

/* The thread that runs an output file's fdatasync (output_sync.c). */
typedef struct run_syncer run_syncer;
/* NULL when the thread cannot be made: the caller syncs itself. */
run_syncer *run_syncer_start(int fd);
/* Asks for a sync and returns at once. 0, or -1 with errno set when an
 * earlier sync failed. */
int run_syncer_request(run_syncer *s);
/* Runs a last sync if final_sync, waits for the thread and frees it. 0,
 * or -1 with errno of the first sync that failed. */
int run_syncer_stop(run_syncer *s, int final_sync);
/* Writes what is held, flushes to disk and closes. 0, or -1 with errno
 * set. */
int run_out_close(run_out *o);

/* What every record carries besides its answer. */
typedef struct run_record_meta {
    int simulated;   /* "simulated": true (--provider mock) */
    uint64_t serial; /* makes "id" */
    int has_input_hash;
    uint64_t input_hash; /* of the input line answered */
    /* Text that must not reach the file (the API keys sent), NULL-
     * terminated; every copy in the body or request_id is masked. */
    const char *const *secrets;
} run_record_meta;

/*
 * Formats the output line for a result (NUL-terminated, with the
 * newline) into a malloc'd buffer. *cls is RUN_CLASS_OK for a 2xx answer,
 * else the failure's class. Returns NULL on out of memory.
 */
char *run_out_format_result(const char *custom_id, const plm_result *res,
                            const run_record_meta *meta, int *cls, size_t *len);
/* The line for an input that was refused (error "invalid_request"), or
 * for another local failure with code (e.g. "io_error"). */
char *run_out_format_error(const char *custom_id, const char *code,
                           const char *message, const run_record_meta *meta,
                           size_t *len);
/* Masks every copy of each secret in s (len bytes) in place, keeping its
 * length: all but its first 3 bytes become '*'. */
void run_mask_secrets(char *s, size_t len, const char *const *secrets);

/* ------------------------------------------------------------------ */
/* run_diag.c */

typedef struct run_url {
    char host[256];
    int port;
    int tls;
} run_url;

/* Parses an http:// or https:// base URL: a host (a name, an address,
 * or [an IPv6 address]), an optional port from 1 to 65535, and a path
 * without spaces or control characters. 0, or -1 if malformed. */
int run_url_parse(const char *url, run_url *u);
/* 0 when path holds PEM certificates only; -1 with the reason. */
int run_check_ca_pem(const char *path, char *why, size_t len);
/* Connects to the server of url (and makes a TLS handshake for https,
 * unless insecure): 0 when that works, else -1 with a one-line reason. */
int run_probe(const char *url, const char *ca_file, int insecure, char *why,
              size_t len);

/* ------------------------------------------------------------------ */
/* progress.c */

/* The whole output file against the whole input: every input request's
 * final outcome, whichever run wrote it. */
typedef struct run_final {
    uint64_t requests; /* non-blank input lines classified */
    uint64_t succeeded;
    uint64_t failed; /* the sum of by_class */
    uint64_t by_class[RUN_CLASS_COUNT];
    uint64_t not_run;   /* no record for the line as it is now */
    int input_complete; /* every input line was classified */
} run_final;

/* Counts a final outcome (RUN_CLASS_OK or a failure's class). */
void run_final_add(run_final *f, int cls);

typedef struct run_counts {
    uint64_t total; /* input lines, 0 if unknown */
    int total_estimated;
    uint64_t sent;             /* requests handed to the engine */
    uint64_t succeeded;        /* written with 2xx */
    uint64_t failed;           /* written as failures (invalid input too) */
    uint64_t invalid;          /* of which refused input lines */
    uint64_t skipped;          /* already done in the output */
    uint64_t not_run;          /* cancelled / never started: run again later */
    uint64_t kept_invalid;     /* refused lines whose record stands */
    int64_t prompt_tokens;     /* summed over the answers that report it */
    int64_t completion_tokens; /* likewise */
    double started;            /* run_now() at start */
    run_final final;
    char first_failure[256]; /* one line: why the first request failed */
    /* Answers that reported each token count (a server may report none:
     * unknown is not zero), and successes that reported no usage. */
    uint64_t prompt_known, completion_known;
    uint64_t usage_missing;
} run_counts;

/* Adds a written answer's token counts to c, keeping count of those it
 * did not report (ok: the answer is a success). */
void run_counts_add_tokens(run_counts *c, int64_t in, int64_t out, int ok);

/* The whole run's token count of one kind as it may be shown: 1 when
 * known (*out the sum), 0 when unknown (answers came, none reported it). */
int run_counts_tokens(const run_counts *c, int completion, int64_t *out);

/* ------------------------------------------------------------------ */
/* run_tally.c: what an input line becomes, given what the output holds. */

/* What the output held for a line's custom_id before this run. */
typedef struct run_prior {
    unsigned char flags; /* RUN_ID_DONE_* and the failure class */
    int changed;         /* the input line differs from the recorded one */
} run_prior;

/* An output line held for the round's write, and what it counts once
 * written (or, when the write fails, as not run). */
typedef struct run_held {
    int cls;     /* RUN_CLASS_* */
    int invalid; /* an input line refused as invalid */
    run_prior prior;
    int64_t prompt_tokens, completion_tokens; /* -1 = not reported */
} run_held;

enum run_decision {
    RUN_SEND = 1,     /* no success for the line as it is: send it */
    RUN_SKIP_OK,      /* succeeded before */
    RUN_SKIP_FAILED,  /* failed before, kept (--skip-failed) */
    RUN_KEEP_INVALID, /* refused before as it is: the record stands */
    RUN_WRITE_INVALID /* refused: write its error line */
};

/* Decides what item becomes (line_hash: run_input_hash of its line);
 * marks its custom_id as met, turning a repeated one into a refused
 * "line-N". A run_decision, or PLM_ENOMEM. */
int run_tally_decide(run_idset *ids, run_input_item *item, uint64_t line_hash,
                     int skip_failed, run_prior *prior);
/* The final outcome of a line this run did not answer: the output's
 * failure if it answers the line as it is, else "not run". */
void run_final_unanswered(run_final *f, const run_prior *prior);
/* Classifies the input lines the run did not reach (it stopped early),
 * so the summary covers the whole input. 0, or -1 on a read error or
 * out of memory (the counts then cover what was read). */
int run_tally_rest(run_line_reader *r, run_idset *ids, int skip_failed,
                   run_final *f);

typedef struct run_progress run_progress;

run_progress *run_progress_new(int fd, int color);
void run_progress_free(run_progress *p);
/* Redraws the progress line. */
void run_progress_draw(run_progress *p, const run_counts *c,
                       const plm_stats *st);
/* Draws the final state and ends the line. */
void run_progress_finish(run_progress *p, const run_counts *c,
                         const plm_stats *st);
/* Clears the line so other messages start clean. */
void run_progress_clear(run_progress *p);

/* The end-of-run summary on f, and as JSON into path (0 or -1). */
void run_summary_print(FILE *f, const run_counts *c, const plm_stats *st,
                       double elapsed, const char *outcome);
int run_summary_write_json(const char *path, const run_counts *c,
                           const plm_stats *st, double elapsed,
                           const char *outcome, int exit_code);

/* ------------------------------------------------------------------ */
/* progress_line.c: the progress line's text, fitted to the terminal. */

/* What the progress line shows. */
typedef struct run_progress_view {
    uint64_t done, total; /* total 0: unknown */
    double rate;          /* requests per second */
    const char *eta;      /* "1m05s" or "--" */
    uint64_t in_flight, retries, failed;
} run_progress_view;

/* Writes the line's text into buf (NUL-terminated, with colour escapes
 * when color) in at most `columns` columns, dropping or shortening fields
 * in a fixed order, cutting the count itself as a last resort. Returns
 * the bytes written. */
size_t run_progress_line(char *buf, size_t cap, const run_progress_view *v,
                         int columns, int color);

/* The terminal's width in columns: fd's (TIOCGWINSZ), else $COLUMNS,
 * else 80. */
int run_progress_width(int fd);

#endif
