/*
 * Internal interfaces between the files of `parallm run`: the set of
 * custom_ids (idset.c), the input line reader and validator
 * (jsonl_input.c), the output writer and resume scan (output.c), progress
 * and summary (progress.c) and small helpers (cli_util.c). Nothing here is
 * part of the library; cmd_run.c strings these pieces together.
 */
#ifndef PLM_CLI_RUN_H
#define PLM_CLI_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "parallm.h"

/* ------------------------------------------------------------------ */
/* cli_util.c                                                          */

/* Parses a decimal integer in [min, max], the whole string. 0 or -1. */
int plm__run_parse_long(const char *text, long min, long max, long *out);
/* Parses a non-negative decimal number of seconds ("30", "0.5") into
 * milliseconds. 0 or -1. */
int plm__run_parse_seconds(const char *text, int64_t *out_ms);
/* Monotonic clock in seconds. */
double plm__run_now(void);
/* 1 if colour may be used on fd (a TTY and NO_COLOR unset). */
int plm__run_use_color(int fd);
/* Writes a JSON string literal for s (len bytes) to f, escaping
 * everything a terminal or a JSON reader could misread. */
void plm__run_print_safe(FILE *f, const char *s, size_t len);

/* ------------------------------------------------------------------ */
/* idset.c: custom_ids kept compactly (strings in an arena, open
 * addressing on 64-bit hashes), each with a few flag bits. */

enum {
    PLM_ID_DONE_OK = 1,      /* output holds a success line */
    PLM_ID_DONE_FAILED = 2,  /* output holds a failure line */
    PLM_ID_SEEN = 4,         /* met in this run's input */
    PLM_ID_WRITTEN = 8       /* this run wrote a line for it */
};

typedef struct plm__idset plm__idset;

plm__idset *plm__idset_new(void);
void plm__idset_free(plm__idset *set);
/* The flags of id (len bytes), or NULL if absent. With create, an absent
 * id is added with flags 0. NULL with create means out of memory (or an
 * id over 65535 bytes). The pointer stays valid until the set is freed. */
unsigned char *plm__idset_find(plm__idset *set, const char *id, size_t len,
                               int create);
size_t plm__idset_count(const plm__idset *set);
/* The input line an id was first met on (0 = not recorded), kept beside
 * its flags. */
void plm__idset_set_line(unsigned char *flags, uint64_t line_no);
uint64_t plm__idset_line(const unsigned char *flags);
/* Bytes held (for diagnostics). */
size_t plm__idset_bytes(const plm__idset *set);

/* ------------------------------------------------------------------ */
/* jsonl_input.c */

#define PLM_RUN_MAX_LINE (16u * 1024u * 1024u)
#define PLM_RUN_MAX_CUSTOM_ID 4096

typedef struct plm__line_reader plm__line_reader;

/* Reads lines from fd (not closed by the reader) with a cap: a longer
 * line is skipped and reported with *too_long = 1. */
plm__line_reader *plm__line_reader_new(int fd, size_t max_line);
void plm__line_reader_free(plm__line_reader *r);
/* 1 and the line (without its newline, NUL-terminated, borrowed until the
 * next call), 0 at end of input, -1 on a read error (errno set).
 * *no_newline is 1 for a last line without a trailing newline. */
int plm__line_reader_next(plm__line_reader *r, char **line, size_t *len,
                          int *too_long, int *no_newline);
/* Bytes consumed so far (through the end of the last line returned). */
uint64_t plm__line_reader_offset(const plm__line_reader *r);
uint64_t plm__line_reader_line_no(const plm__line_reader *r);

/* One input line, checked. */
typedef struct plm__input_item {
    uint64_t line_no;
    char *custom_id;    /* malloc'd; the line's or "line-N" */
    int synthetic_id;   /* 1 when custom_id is "line-N" */
    plm_provider provider;
    char *method;
    char *url;
    char *body;         /* compact JSON of "body" */
    char error[512];    /* "" when valid; else "line N: ..." */
} plm__input_item;

/* Parses and checks one line. Always fills item (free with _clear);
 * item->error says what is wrong. Returns 0, or -1 on out of memory. */
int plm__input_parse(const char *line, size_t len, int too_long,
                     uint64_t line_no, plm__input_item *item);
void plm__input_item_clear(plm__input_item *item);
/* Replaces control bytes in s, so text from the input (ids, parser
 * excerpts) printed on a terminal cannot drive it. */
void plm__input_sanitize(char *s);
/* 1 for a line holding only whitespace (skipped silently). */
int plm__input_blank(const char *line, size_t len);
/* --strict: checks every line of fd (duplicates included), printing each
 * problem on stderr. Returns the number of problems, or -1 on a read
 * error or out of memory. */
int64_t plm__input_strict_check(int fd, const char *name);
/* Copies stdin into an unlinked temporary file (so it can be read twice)
 * and returns its descriptor, rewound; -1 with errno set on error. */
int plm__input_spool_stdin(void);
/* Counts the non-blank lines of a regular file (a quick pre-pass for the
 * progress total). -1 on error. */
int64_t plm__input_count_lines(int fd);

/* ------------------------------------------------------------------ */
/* output.c */

typedef struct plm__out plm__out;

typedef struct plm__resume_info {
    uint64_t lines;          /* whole lines found in the existing output */
    uint64_t ok;             /* distinct custom_ids with a success line */
    uint64_t failed;         /* distinct custom_ids with failures only */
    uint64_t bad_lines;      /* lines that are not output records */
    uint64_t repaired_bytes; /* torn tail removed */
} plm__resume_info;

/*
 * Opens path for appending. Unless overwrite, reads the existing records
 * into ids (PLM_ID_DONE_OK / PLM_ID_DONE_FAILED) and cuts a torn last
 * line. Returns 0, or -1 with a message in err.
 */
int plm__out_open(plm__out **out, const char *path, int overwrite,
                  plm__idset *ids, plm__resume_info *info, char *err,
                  size_t errlen);
/* Appends one whole line (the newline included in buf) with one write();
 * a failed write leaves the file as it was. 0, or -1 with errno set. */
int plm__out_write(plm__out *o, const char *buf, size_t len);
/* fsync when 100 lines or 1 s have gone by since the last one. */
int plm__out_sync_maybe(plm__out *o);
/* Flushes to disk and closes. 0, or -1 with errno set. */
int plm__out_close(plm__out *o);

/*
 * Formats the output line for a result (NUL-terminated, with the
 * newline) into a malloc'd buffer. *ok is set to 1 for a 2xx answer.
 * Returns NULL on out of memory.
 */
char *plm__out_format_result(const char *custom_id, const plm_result *res,
                             int simulated, uint64_t serial, int *ok,
                             size_t *len);
/* The line for an input that was refused (error "invalid_request"), or
 * for another local failure with code (e.g. "io_error"). */
char *plm__out_format_error(const char *custom_id, const char *code,
                            const char *message, int simulated,
                            uint64_t serial, size_t *len);

/* ------------------------------------------------------------------ */
/* progress.c */

typedef struct plm__run_counts {
    uint64_t total;        /* input lines, 0 if unknown */
    int total_estimated;
    uint64_t sent;         /* requests handed to the engine */
    uint64_t succeeded;    /* written with 2xx */
    uint64_t failed;       /* written as failures (invalid input too) */
    uint64_t invalid;      /* of which refused input lines */
    uint64_t skipped;      /* already done in the output */
    uint64_t not_run;      /* cancelled / never started: run again later */
    int64_t prompt_tokens;
    int64_t completion_tokens;
    double started;        /* plm__run_now() at start */
} plm__run_counts;

typedef struct plm__progress plm__progress;

plm__progress *plm__progress_new(int fd, int color);
void plm__progress_free(plm__progress *p);
/* Redraws the progress line. */
void plm__progress_draw(plm__progress *p, const plm__run_counts *c,
                        const plm_stats *st);
/* Draws the final state and ends the line. */
void plm__progress_finish(plm__progress *p, const plm__run_counts *c,
                          const plm_stats *st);
/* Clears the line so other messages start clean. */
void plm__progress_clear(plm__progress *p);

/* The end-of-run summary on f, and as JSON into path (0 or -1). */
void plm__summary_print(FILE *f, const plm__run_counts *c,
                        const plm_stats *st, double elapsed,
                        const char *outcome);
int plm__summary_write_json(const char *path, const plm__run_counts *c,
                            const plm_stats *st, double elapsed,
                            const char *outcome, int exit_code);

#endif
