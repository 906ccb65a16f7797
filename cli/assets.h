/*
 * The command's web pages, compiled in from cli/assets/ by
 * cmake/embed_assets.cmake, so they are edited as HTML and need no files
 * at run time. Each is its bytes followed by a NUL; _len excludes the
 * NUL.
 *
 * cli_report_html: the page of `parallm report`; its data goes in place
 * of the marker @@REPORT_DATA@@.
 * cli_dashboard_html: the live dashboard of a run, for the metrics
 * listener to serve at "/"; it polls /api/state every second (or the URL
 * in its ?state= query parameter).
 */
#ifndef CLI_ASSETS_H
#define CLI_ASSETS_H

#include <stddef.h>

extern const char cli_report_html[];
extern const size_t cli_report_html_len;
extern const char cli_dashboard_html[];
extern const size_t cli_dashboard_html_len;

#endif
