/*
 * What each input line of `parallm run` becomes, given what the output
 * file already holds for its custom_id, and the tally of final outcomes
 * that the exit code and the summary report: the whole output file
 * against the whole input, not only this run's work.
 *
 * A line is sent unless the output holds a success for it as it is now
 * (the "input_hash" of the record matches the line's); a recorded failure
 * is sent again unless --skip-failed. A refused line whose refusal is on
 * record for the same text is not written again.
 */
#include <stdlib.h>
#include <string.h>

#include "run.h"

void run_final_add(run_final *f, int cls)
{
    if (cls == RUN_CLASS_OK) {
        f->succeeded++;
    } else {
        f->failed++;
        f->by_class[cls > 0 && cls < RUN_CLASS_COUNT ? cls : RUN_CLASS_OTHER]++;
    }
}

void run_final_unanswered(run_final *f, const run_prior *prior)
{
    if ((prior->flags & RUN_ID_DONE_FAILED) &&
        !(prior->flags & RUN_ID_DONE_OK) && !prior->changed)
        run_final_add(f, RUN_ID_CLASS(prior->flags));
    else
        f->not_run++;
}

/* A repeated custom_id: the first line keeps it; this one is refused
 * under its line's synthetic id. 0, or PLM_ENOMEM. */
static int make_duplicate(run_input_item *item, const unsigned char *first)
{
    char *dup = item->custom_id;
    char *id = malloc(32);
    if (!id)
        return PLM_ENOMEM;
    /* Cut at a character boundary: a message must stay UTF-8. */
    int shown = (int)cli_utf8_cut(dup, 200);
    snprintf(item->error, sizeof item->error,
             "line %llu: duplicate custom_id \"%.*s\" (first on line %llu)",
             (unsigned long long)item->line_no, shown, dup,
             (unsigned long long)run_idset_line(first));
    snprintf(id, 32, "line-%llu", (unsigned long long)item->line_no);
    item->custom_id = id;
    item->synthetic_id = 1;
    free(dup);
    return 0;
}

int run_tally_decide(run_idset *ids, run_input_item *item, uint64_t line_hash,
                     int skip_failed, run_prior *prior)
{
    unsigned char *flags;
    uint32_t tag = 0;
    memset(prior, 0, sizeof *prior);
    if (!item->synthetic_id) {
        flags = run_idset_find(ids, item->custom_id, strlen(item->custom_id),
                               1);
        if (!flags)
            return PLM_ENOMEM;
        if (*flags & RUN_ID_SEEN) {
            if (make_duplicate(item, flags) != 0)
                return PLM_ENOMEM;
        } else {
            /* The tag shares its bytes with the line number. */
            prior->flags = *flags;
            tag = run_idset_tag(flags);
            *flags |= RUN_ID_SEEN;
            run_idset_set_line(flags, item->line_no);
        }
    }
    if (item->synthetic_id) {
        /* Synthetic ids are never marked as met: their tag stays. */
        flags = run_idset_find(ids, item->custom_id, strlen(item->custom_id),
                               0);
        if (flags) {
            prior->flags = *flags;
            tag = run_idset_tag(flags);
        }
    }
    /* Records from before input hashes (tag 0) match any line. */
    prior->changed = tag != 0 && tag != run_input_tag(line_hash);
    unsigned f = prior->flags;
    if ((f & RUN_ID_DONE_OK) && !prior->changed)
        return RUN_SKIP_OK;
    if ((f & RUN_ID_DONE_FAILED) && !(f & RUN_ID_DONE_OK) && !prior->changed) {
        if (item->error[0] && RUN_ID_CLASS(f) == RUN_CLASS_INVALID)
            return RUN_KEEP_INVALID;
        if (skip_failed)
            return RUN_SKIP_FAILED;
    }
    return item->error[0] ? RUN_WRITE_INVALID : RUN_SEND;
}

int run_tally_rest(run_line_reader *r, run_idset *ids, int skip_failed,
                   run_final *f)
{
    for (;;) {
        char *line;
        size_t len;
        int too_long, no_newline;
        int got = run_line_reader_next(r, &line, &len, &too_long, &no_newline);
        if (got <= 0)
            return got;
        if (!too_long && run_input_blank(line, len))
            continue;
        run_input_item item;
        run_prior prior;
        uint64_t hash = run_input_hash(line, len);
        if (run_input_parse(line, len, too_long, run_line_reader_line_no(r),
                            &item) != 0) {
            run_input_item_clear(&item);
            return -1;
        }
        int d = run_tally_decide(ids, &item, hash, skip_failed, &prior);
        run_input_item_clear(&item);
        if (d < 0)
            return -1;
        f->requests++;
        if (d == RUN_SKIP_OK)
            run_final_add(f, RUN_CLASS_OK);
        else if (d == RUN_SKIP_FAILED || d == RUN_KEEP_INVALID)
            run_final_add(f, RUN_ID_CLASS(prior.flags));
        else if (d == RUN_WRITE_INVALID)
            f->not_run++;
        else
            run_final_unanswered(f, &prior);
    }
}

void run_counts_add_tokens(run_counts *c, int64_t in, int64_t out, int ok)
{
    /* -1 is "not reported"; a reported 0 is a count like any other. */
    if (in >= 0) {
        c->prompt_tokens += in;
        c->prompt_known++;
    }
    if (out >= 0) {
        c->completion_tokens += out;
        c->completion_known++;
    }
    if (ok && in < 0 && out < 0)
        c->usage_missing++;
}

int run_counts_tokens(const run_counts *c, int completion, int64_t *out)
{
    uint64_t known = completion ? c->completion_known : c->prompt_known;

    *out = completion ? c->completion_tokens : c->prompt_tokens;
    /* Without a success that reported it, a sum of 0 would claim a
     * count nobody gave: unknown, unless there were no answers. */
    return known > 0 || c->usage_missing == 0;
}
