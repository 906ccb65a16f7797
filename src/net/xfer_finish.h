/*
 * Maps a finished transfer's curl code to x->error, x->http_status and
 * x->message (see xfer_finish.c). Loop thread, called by the transport.
 */
#ifndef PLM_XFER_FINISH_H
#define PLM_XFER_FINISH_H

#include <curl/curl.h>

#include "transport.h"

void plm__xfer_finish(plm__xfer *x, CURLcode cc);

#endif
