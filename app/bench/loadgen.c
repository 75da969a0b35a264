/* beacon-loadgen: the HTTP/1.1 load generator of `beacon bench` (compiled on first use by
 * app/bench/loadgen.py with the system C compiler).
 *
 * It replays a pool of pre-formatted requests over keep-alive connections to one
 * loopback address, either as fast as the server answers (closed loop, like wrk) or at a
 * fixed rate (open loop, like wrk2): request k is due at start + k / rate whatever
 * happened before, and its latency is measured from that due time, not from when a free
 * connection finally sent it, so a server stall shows in the percentiles instead of
 * silently slowing the load ("coordinated omission").
 *
 * Pool file: records of <u32 length><u16 patches><u32 offset, u8 kind>*patches<request>.
 * Before sending, each patch overwrites bytes of the request in place: kind 0, 6 hex
 * digits of the pass over the pool (so session and page ids are new on every pass);
 * kind 1, the 13 digits of the current Unix time in milliseconds (`sent_at`).
 *
 * Output file: one record per answered request, <u64 due µs since start><u32 latency
 * µs><u16 status><u16 0>, in completion order. Stdout: one JSON line of totals.
 * Limits: one in-flight request per connection; answers must carry Content-Length.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    uint32_t offset;
    uint8_t kind;
} patch_t;

typedef struct {
    char *data;
    uint32_t len;
    uint16_t npatches;
    patch_t *patches;
} request_t;

typedef struct {
    int fd;
    int busy;
    const char *out;     /* bytes being sent */
    uint32_t out_len, sent;
    char *in;            /* answer being read */
    uint32_t in_len, in_cap;
    uint64_t due_us;
} conn_t;

typedef struct __attribute__((packed)) {
    uint64_t due_us;
    uint32_t latency_us;
    uint16_t status;
    uint16_t pad;
} record_t;

static request_t *pool;
static size_t pool_size, next_request;
static struct sockaddr_in target;
static record_t *records;
static size_t nrecords, records_cap;
static uint64_t errors_connect, errors_read, errors_write, errors_parse;

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void die(const char *what) {
    fprintf(stderr, "beacon-loadgen: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void load_pool(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    size_t cap = 1024;
    pool = malloc(cap * sizeof(request_t));
    for (;;) {
        uint32_t len;
        uint16_t n;
        if (fread(&len, 4, 1, f) != 1) break;
        if (fread(&n, 2, 1, f) != 1) die("truncated pool");
        if (pool_size == cap) pool = realloc(pool, (cap *= 2) * sizeof(request_t));
        request_t *r = &pool[pool_size++];
        r->len = len;
        r->npatches = n;
        r->patches = malloc((n ? n : 1) * sizeof(patch_t));
        for (uint16_t i = 0; i < n; i++) {
            if (fread(&r->patches[i].offset, 4, 1, f) != 1) die("truncated pool");
            if (fread(&r->patches[i].kind, 1, 1, f) != 1) die("truncated pool");
        }
        r->data = malloc(len);
        if (fread(r->data, 1, len, f) != len) die("truncated pool");
    }
    fclose(f);
    if (pool_size == 0) {
        fprintf(stderr, "beacon-loadgen: empty pool %s\n", path);
        exit(2);
    }
}

static const request_t *take_request(void) {
    size_t k = next_request++;
    request_t *r = &pool[k % pool_size];
    unsigned pass = (unsigned)(k / pool_size) & 0xffffff;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    uint64_t ms = (uint64_t)wall.tv_sec * 1000u + (uint64_t)wall.tv_nsec / 1000000u;
    char digits[16];
    for (uint16_t i = 0; i < r->npatches; i++) {
        if (r->patches[i].kind == 0) {
            snprintf(digits, sizeof digits, "%06x", pass);
            memcpy(r->data + r->patches[i].offset, digits, 6);
        } else {
            snprintf(digits, sizeof digits, "%013llu", (unsigned long long)ms);
            memcpy(r->data + r->patches[i].offset, digits, 13);
        }
    }
    return r;
}

static void record(uint64_t due, uint64_t done, int status) {
    if (nrecords == records_cap) {
        records_cap = records_cap ? records_cap * 2 : 1 << 16;
        records = realloc(records, records_cap * sizeof(record_t));
        if (!records) die("memory");
    }
    record_t *rec = &records[nrecords++];
    rec->due_us = due;
    rec->latency_us = (uint32_t)(done - due);
    rec->status = (uint16_t)status;
    rec->pad = 0;
}

static int open_conn(int ep, conn_t *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
        errors_connect++;
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    c->busy = 0;
    c->in_len = 0;
    return 0;
}

static void reopen(int ep, conn_t *c) {
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    open_conn(ep, c);
}

/* Write what is pending; returns -1 when the connection failed. */
static int flush_out(conn_t *c) {
    while (c->sent < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->sent, c->out_len - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            return -1;
        }
        c->sent += (uint32_t)n;
    }
    return 0;
}

static void start_request(int ep, conn_t *c, uint64_t due) {
    const request_t *r = take_request();
    c->busy = 1;
    c->out = r->data;
    c->out_len = r->len;
    c->sent = 0;
    c->in_len = 0;
    c->due_us = due;
    if (flush_out(c) < 0) {
        errors_write++;
        reopen(ep, c);
    }
}

/* Returns 1 when a whole answer is in the buffer (status set), 0 when more is needed,
 * -1 when it cannot be parsed. */
static int parse_answer(conn_t *c, int *status) {
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) return 0;
    if (c->in_len < 12 || memcmp(c->in, "HTTP/1.", 7) != 0) return -1;
    *status = atoi(c->in + 9);
    size_t head = (size_t)(end - c->in) + 4;
    long length = -1;
    for (char *line = memchr(c->in, '\n', head); line && line < end; line = memchr(line + 1, '\n', (size_t)(end - line))) {
        if (strncasecmp(line + 1, "content-length:", 15) == 0) length = atol(line + 16);
        if (strncasecmp(line + 1, "transfer-encoding:", 18) == 0) return -1;
    }
    if (length < 0) length = 0;
    if (c->in_len < head + (size_t)length) return 0;
    return 1;
}

/* Handle one epoll event of connection c; idle connections go back on the stack. */
static void handle_event(int ep, conn_t *c, uint32_t flags, uint64_t start, conn_t **idle,
                         int *nidle, int *inflight) {
    if (c->fd < 0) return;
    if (c->busy && c->sent < c->out_len && (flags & EPOLLOUT) && flush_out(c) < 0) {
        errors_write++;
        (*inflight)--;
        c->busy = 0;
        reopen(ep, c);
        idle[(*nidle)++] = c;
        return;
    }
    if (!(flags & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
    for (;;) {
        if (c->in_len == c->in_cap) c->in = realloc(c->in, c->in_cap *= 2);
        ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (r > 0) {
            c->in_len += (uint32_t)r;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (r < 0 && errno == EINTR) continue;
        /* closed by the server or failed: an in-flight request is lost */
        if (c->busy) {
            errors_read++;
            (*inflight)--;
            c->busy = 0;
            idle[(*nidle)++] = c;
        }
        reopen(ep, c);
        return;
    }
    if (!c->busy) {
        c->in_len = 0; /* nothing was asked: ignore */
        return;
    }
    int status = 0;
    int done = parse_answer(c, &status);
    if (done == 0) return;
    (*inflight)--;
    c->busy = 0;
    if (done < 0) {
        errors_parse++;
        reopen(ep, c);
    } else {
        record(c->due_us, now_us() - start, status);
        c->in_len = 0;
    }
    idle[(*nidle)++] = c;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: %s HOST PORT POOL CONNECTIONS SECONDS RATE OUT\n", argv[0]);
        return 2;
    }
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &target.sin_addr) != 1) {
        fprintf(stderr, "beacon-loadgen: not an IPv4 address: %s\n", argv[1]);
        return 2;
    }
    load_pool(argv[3]);
    int nconn = atoi(argv[4]);
    double seconds = atof(argv[5]), rate = atof(argv[6]);
    const char *out_path = argv[7];
    if (nconn < 1 || seconds <= 0 || rate < 0) {
        fprintf(stderr, "beacon-loadgen: bad connections, seconds or rate\n");
        return 2;
    }

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    conn_t *conns = calloc((size_t)nconn, sizeof(conn_t));
    conn_t **idle = malloc((size_t)nconn * sizeof(conn_t *));
    int nidle = 0;
    for (int i = 0; i < nconn; i++) {
        conns[i].in_cap = 16384;
        conns[i].in = malloc(conns[i].in_cap);
        open_conn(ep, &conns[i]);
        idle[nidle++] = &conns[i];
    }

    uint64_t start = now_us();
    uint64_t stop = start + (uint64_t)(seconds * 1e6);
    uint64_t drain_until = stop + 30000000u; /* answers still awaited after the load */
    uint64_t issued = 0, sent_total = 0;
    int inflight = 0;
    struct epoll_event events[256];

    for (;;) {
        uint64_t now = now_us();
        int loading = now < stop;
        if ((!loading && inflight == 0) || now >= drain_until) break;
        uint64_t wait_us = 100000;
        if (loading) {
            while (nidle > 0) {
                uint64_t due = now;
                if (rate > 0) {
                    due = start + (uint64_t)((double)issued * 1e6 / rate);
                    if (due > now) {
                        wait_us = due - now;
                        break;
                    }
                    issued++;
                }
                conn_t *c = idle[--nidle];
                if (c->fd < 0 && open_conn(ep, c) < 0) {
                    idle[nidle++] = c;
                    wait_us = 10000;
                    if (rate > 0) issued--;
                    break;
                }
                start_request(ep, c, due - start);
                if (c->busy) {
                    sent_total++;
                    inflight++;
                } else {
                    idle[nidle++] = c;
                }
            }
            if (stop - now < wait_us) wait_us = stop - now;
        }
        struct timespec wait = {.tv_sec = (time_t)(wait_us / 1000000),
                                .tv_nsec = (long)(wait_us % 1000000) * 1000};
        int n = epoll_pwait2(ep, events, 256, &wait, NULL);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_pwait2");
        }
        for (int i = 0; i < n; i++)
            handle_event(ep, events[i].data.ptr, events[i].events, start, idle, &nidle, &inflight);
    }
    uint64_t elapsed = now_us() - start;

    FILE *out = fopen(out_path, "wb");
    if (!out) die(out_path);
    if (nrecords && fwrite(records, sizeof(record_t), nrecords, out) != nrecords) die(out_path);
    fclose(out);
    printf("{\"sent\": %llu, \"answered\": %zu, \"unanswered\": %d, \"errors_connect\": %llu, "
           "\"errors_read\": %llu, \"errors_write\": %llu, \"errors_parse\": %llu, "
           "\"elapsed_us\": %llu, \"load_us\": %llu, \"pool\": %zu, \"passes\": %zu}\n",
           (unsigned long long)sent_total, nrecords, inflight,
           (unsigned long long)errors_connect, (unsigned long long)errors_read,
           (unsigned long long)errors_write, (unsigned long long)errors_parse,
           (unsigned long long)elapsed, (unsigned long long)(seconds * 1e6), pool_size,
           next_request / pool_size + 1);
    return 0;
}
