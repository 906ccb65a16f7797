/*
 * The mock LLM server alone, for bench/run.sh's curl runs when the
 * `parallm` command (whose `mock` subcommand does the same) is not built.
 *
 *   bench_mock --port-file FILE [--latency MS]
 *
 * Serves on 127.0.0.1, an ephemeral port written to FILE, until SIGTERM
 * or SIGINT.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "port-file", required_argument, NULL, 'p' },
        { "latency", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 },
    };
    plm_mock_options mo;
    char err[256];
    int opt;

    memset(&mo, 0, sizeof mo);
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p': mo.port_file = optarg; break;
        case 'l': mo.latency_ms = strtoll(optarg, NULL, 10); break;
        default:
            fprintf(stderr, "usage: %s --port-file FILE [--latency MS]\n",
                    argv[0]);
            return 2;
        }
    }
    if (!mo.port_file) {
        fprintf(stderr, "%s: --port-file is required\n", argv[0]);
        return 2;
    }
    if (plm_mock_serve(&mo, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", argv[0], err);
        return 1;
    }
    return 0;
}
