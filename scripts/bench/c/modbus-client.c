/*
 * A Modbus TCP load generator for the benchmarks, built on libmodbus: one connection, synchronous
 * requests (function 3, read holding registers from address 0), one after the other.
 *
 *   modbus-client HOST PORT UNIT COUNT REGS [UNITS] [PERIOD_MS]
 *
 *   UNITS      cycle through unit ids UNIT .. UNIT+UNITS-1, one request each (default 1)
 *   PERIOD_MS  0 (default): COUNT requests in a tight loop.
 *              > 0: COUNT rounds, each reading every unit once, one round every PERIOD_MS (a poller).
 *
 * Prints one JSON line: {"requests":N,"registers":N,"errors":N,"elapsedS":S,"requestsPerS":R,...}.
 * Exits 1 when a request failed (the JSON line then carries the first error).
 * Build: gcc -O2 modbus-client.c -o modbus-client $(pkg-config --cflags --libs libmodbus)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void json_string(const char *s) {
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') putchar('\\');
        putchar((unsigned char)*s < 0x20 ? ' ' : *s);
    }
    putchar('"');
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: modbus-client HOST PORT UNIT COUNT REGS [UNITS] [PERIOD_MS]\n");
        return 2;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    int unit = atoi(argv[3]);
    long count = atol(argv[4]);
    int regs = atoi(argv[5]);
    int units = argc > 6 ? atoi(argv[6]) : 1;
    long period_ms = argc > 7 ? atol(argv[7]) : 0;
    if (regs < 1 || regs > MODBUS_MAX_READ_REGISTERS || units < 1 || unit < 0 || unit + units - 1 > 255 || count < 1 || period_ms < 0) {
        fprintf(stderr, "modbus-client: bad arguments (REGS 1..125, UNIT + UNITS - 1 <= 255, COUNT >= 1)\n");
        return 2;
    }

    modbus_t *ctx = modbus_new_tcp(host, port);
    if (ctx == NULL) {
        fprintf(stderr, "modbus-client: modbus_new_tcp: %s\n", modbus_strerror(errno));
        return 1;
    }
    modbus_set_response_timeout(ctx, 5, 0);
    if (modbus_connect(ctx) < 0) {
        fprintf(stderr, "modbus-client: cannot connect to %s:%d: %s\n", host, port, modbus_strerror(errno));
        return 1;
    }

    uint16_t buf[MODBUS_MAX_READ_REGISTERS];
    long requests = 0, errors = 0;
    char first_error[200] = "";
    double t0 = now_s();
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    long rounds = period_ms > 0 ? count : 1;
    long per_round = period_ms > 0 ? units : count;
    for (long r = 0; r < rounds; r++) {
        for (long i = 0; i < per_round; i++) {
            modbus_set_slave(ctx, unit + (int)(i % units));
            int rc = modbus_read_registers(ctx, 0, regs, buf);
            if (rc == regs) {
                requests++;
            } else {
                if (errors++ == 0) snprintf(first_error, sizeof first_error, "unit %d: %s", unit + (int)(i % units), rc < 0 ? modbus_strerror(errno) : "short response");
                if (errors >= 10) goto done; /* a broken server: stop, do not spin */
            }
        }
        if (period_ms > 0 && r + 1 < rounds) {
            next.tv_nsec += (period_ms % 1000) * 1000000L;
            next.tv_sec += period_ms / 1000 + next.tv_nsec / 1000000000L;
            next.tv_nsec %= 1000000000L;
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {}
        }
    }
done:;
    double elapsed = now_s() - t0;
    modbus_close(ctx);
    modbus_free(ctx);
    printf("{\"requests\":%ld,\"registers\":%ld,\"errors\":%ld,\"elapsedS\":%.6f,\"requestsPerS\":%.1f,\"unit\":%d,\"units\":%d,\"regs\":%d,\"periodMs\":%ld,\"firstError\":",
           requests, requests * regs, errors, elapsed, elapsed > 0 ? requests / elapsed : 0.0, unit, units, regs, period_ms);
    json_string(first_error);
    printf("}\n");
    return errors > 0 ? 1 : 0;
}
