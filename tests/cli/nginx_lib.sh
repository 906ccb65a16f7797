# nginx in front of the project's mock: TLS with a throwaway self-signed
# certificate and HTTP/2 on a free loopback port, proxying to `parallm
# mock` over keep-alive HTTP/1.1, the way a provider's edge does.
# Sourced (not run) by tests/cli/test_run_h2_nginx.sh and bench/h2.sh.
# Everything lives in the directory given to nginx_h2_start: the
# certificate, the configuration, the pid file, the logs and the temp
# paths. nginx runs in the foreground (daemon off) as a background job
# of the caller, which ends it with nginx_h2_stop.
#
# The access log has one line a request:
#   CONNECTION CONNECTION_REQUESTS PROTOCOL HTTP2 STATUS URI
# ($connection, $connection_requests, $server_protocol, $http2), so a
# caller can count the connections opened and check the protocol.

# nginx_h2_find: prints the nginx binary ($PLM_NGINX, the PATH, or
# /usr/sbin/nginx, where Debian puts it outside root's PATH); fails if
# there is none.
nginx_h2_find() {
    local n
    for n in "${PLM_NGINX:-}" "$(command -v nginx 2>/dev/null)" \
        /usr/sbin/nginx; do
        if [ -n "$n" ] && [ -x "$n" ]; then
            echo "$n"
            return 0
        fi
    done
    return 1
}

nginx_h2_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# nginx_h2_wait_file FILE WHAT: polls (bounded, 30 s) until FILE is
# non-empty.
nginx_h2_wait_file() {
    local i
    for i in $(seq 1 1500); do
        [ -s "$1" ] && return 0
        sleep 0.02
    done
    echo "nginx_lib: $2 did not start" >&2
    return 1
}

# nginx_h2_cert DIR: a self-signed EC P-256 certificate for 127.0.0.1
# and localhost (DIR/cert.pem, DIR/key.pem); the certificate is its own
# CA, to be given to clients as the CA file.
nginx_h2_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -nodes -keyout "$1/key.pem" -out "$1/cert.pem" -days 2 \
        -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null
}

# nginx_h2_config DIR PORT UPSTREAM_PORT: writes DIR/nginx.conf.
nginx_h2_config() {
    local d=$1 port=$2 up=$3 user=""
    # As root the workers need a user to switch to; Debian has no
    # group "nobody", which is nginx's built-in default.
    [ "$(id -u)" = 0 ] && user="user nobody nogroup;"
    cat > "$d/nginx.conf" <<EOF
$user
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
    log_format h2 '\$connection \$connection_requests \$server_protocol '
                  '"\$http2" \$status \$request_uri';
    access_log $d/access.log h2;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    upstream mock {
        server 127.0.0.1:$up;
        keepalive 512;
        keepalive_requests 100000;
    }
    server {
        listen 127.0.0.1:$port ssl http2;
        ssl_certificate $d/cert.pem;
        ssl_certificate_key $d/key.pem;
        # nginx 1.22's default stops at TLS 1.2; providers speak 1.3.
        ssl_protocols TLSv1.2 TLSv1.3;
        http2_max_concurrent_streams 128;
        # Requests a client connection may carry before nginx closes it
        # (the default, 1000, would end an HTTP/2 connection every 1000
        # requests and blur the connection counts).
        keepalive_requests 100000;
        # Request bodies stay in memory: as root the workers run as
        # nobody, who may not reach a temp path under the caller's
        # private directory.
        client_max_body_size 4m;
        client_body_buffer_size 4m;
        location / {
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # Streamed answers pass through as they come.
            proxy_buffering off;
        }
    }
}
EOF
}

# nginx_h2_start DIR [MOCK_OPTIONS...]: starts `$PLM mock` (PLM must be
# set) on a free port, then nginx on another, both as background jobs.
# Sets NGINX_H2_PORT, NGINX_H2_URL (https://127.0.0.1:PORT),
# NGINX_H2_CA (the CA file), NGINX_H2_PID and NGINX_H2_MOCK_PID.
# A port taken between the probe and nginx's bind is retried.
nginx_h2_start() {
    local d=$1 ngx try
    shift
    ngx=$(nginx_h2_find) || { echo "nginx_lib: no nginx" >&2; return 1; }
    mkdir -p "$d/tmp"
    chmod 755 "$d" "$d/tmp"
    nginx_h2_cert "$d" || { echo "nginx_lib: openssl req failed" >&2; return 1; }
    rm -f "$d/mock.port"
    "$PLM" mock --port 0 --port-file "$d/mock.port" "$@" \
        2>"$d/mock.err" &
    NGINX_H2_MOCK_PID=$!
    nginx_h2_wait_file "$d/mock.port" "the mock" || return 1
    for try in 1 2 3; do
        NGINX_H2_PORT=$(nginx_h2_free_port)
        nginx_h2_config "$d" "$NGINX_H2_PORT" "$(cat "$d/mock.port")"
        rm -f "$d/nginx.pid"
        "$ngx" -p "$d" -c "$d/nginx.conf" -e "$d/error.log" \
            2>>"$d/nginx.err" &
        NGINX_H2_PID=$!
        # nginx writes its pid file once its listening socket is bound,
        # or exits when the bind fails.
        local i
        for i in $(seq 1 1500); do
            [ -s "$d/nginx.pid" ] && break
            kill -0 "$NGINX_H2_PID" 2>/dev/null || break
            sleep 0.02
        done
        if [ -s "$d/nginx.pid" ]; then
            NGINX_H2_URL="https://127.0.0.1:$NGINX_H2_PORT"
            NGINX_H2_CA="$d/cert.pem"
            return 0
        fi
        wait "$NGINX_H2_PID" 2>/dev/null || true
        grep -q "Address already in use" "$d/error.log" "$d/nginx.err" \
            2>/dev/null || break
    done
    echo "nginx_lib: nginx did not start: $(cat "$d/error.log" \
        "$d/nginx.err" 2>/dev/null)" >&2
    return 1
}

# nginx_h2_stop: ends nginx (its master stops the workers) and the mock.
nginx_h2_stop() {
    local p
    for p in "${NGINX_H2_PID:-}" "${NGINX_H2_MOCK_PID:-}"; do
        [ -n "$p" ] || continue
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    NGINX_H2_PID=""
    NGINX_H2_MOCK_PID=""
}

# nginx_h2_log_summary LOG [FROM_LINE]: from line FROM_LINE (default 1)
# of the access log, prints "REQUESTS CONNECTIONS H2_REQUESTS STATUS_200".
nginx_h2_log_summary() {
    tail -n +"${2:-1}" "$1" | awk '
        { n++; conn[$1] = 1; if ($3 == "HTTP/2.0" && $4 == "\"h2\"") h2++;
          if ($5 == 200) ok++ }
        END { c = 0; for (k in conn) c++; printf "%d %d %d %d\n", n, c, h2 + 0, ok + 0 }'
}
