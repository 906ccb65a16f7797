/*
 * Shared set-up for the tests of the limit policy through the engine: a
 * recording mock on an ephemeral loopback port, a client pointed at it,
 * chat requests built from a text, a run that keeps every result by index
 * and can sample the client's statistics at each completion, and the
 * mock's records sorted by arrival, for window and pause checks.
 */
#ifndef PLM_LIMITS_FIXTURE_H
#define PLM_LIMITS_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "mock.h"
#include "parallm.h"

/* Starts a recording mock (o may be NULL) or fails the test. */
plm_mock *plm_lf_mock(const plm_mock_options *o);

/* A client on mock m; co may be NULL (defaults). Base URLs and keys are
 * filled in. Fails the test on error. */
plm_client *plm_lf_client(plm_mock *m, const plm_client_options *co);

/* An OpenAI chat request for model with one user message; max_tokens <= 0
 * leaves the default. Fails the test on error. */
plm_request *plm_lf_chat(const char *model, const char *text, int max_tokens);

/* Called on the run's thread after each completion. */
typedef void (*plm_lf_sample_fn)(plm_client *client, void *user_data);

/* Runs reqs[0..n-1] through plm_client_run with max_concurrent; res[i] gets
 * reqs[i]'s result (NULL if it never completed). Returns the run's code. */
int plm_lf_run(plm_client *client, plm_request **reqs, size_t n,
               plm_result **res, int max_concurrent, plm_lf_sample_fn sample,
               void *user_data);

/* Frees requests and results (NULL entries allowed). */
void plm_lf_free(plm_request **reqs, plm_result **res, size_t n);

/* The mock's records sorted by arrival time. Free with
 * plm_mock_records_free. */
size_t plm_lf_records(plm_mock *m, plm_mock_record **out);

/* The largest number of records whose arrival falls in any window of
 * window_ns (half-open [t, t + window_ns)). */
size_t plm_lf_max_in_window(const plm_mock_record *r, size_t n,
                            int64_t window_ns);

#endif
