/*
 * A fast Modbus TCP server for the benchmarks, built on libmodbus: every unit id is answered from one
 * register map (65536 holding registers, input registers, coils and discrete inputs; register i holds
 * i), and every connection is served by its own forked process, so concurrent clients are served in
 * parallel on every core.
 *
 *   modbus-server [HOST] [PORT]      (default 127.0.0.1, port 0 = any free port)
 *
 * Prints "ready port=N" once it listens; stops on SIGTERM/SIGINT (its connection processes die with it).
 * Build: gcc -O2 modbus-server.c -o modbus-server $(pkg-config --cflags --libs libmodbus)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <modbus.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define TABLE 65536

static void serve(modbus_t *ctx, modbus_mapping_t *map, int fd) {
    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    modbus_set_socket(ctx, fd);
    for (;;) {
        int rc = modbus_receive(ctx, query);
        if (rc > 0) {
            if (modbus_reply(ctx, query, rc, map) < 0) break;
        } else if (rc < 0) {
            break; /* the client closed the connection, or sent garbage */
        }
        /* rc == 0: a request to ignore */
    }
    close(fd);
}

int main(int argc, char **argv) {
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    int port = argc > 2 ? atoi(argv[2]) : 0;

    modbus_t *ctx = modbus_new_tcp(host, port);
    if (ctx == NULL) {
        fprintf(stderr, "modbus-server: modbus_new_tcp: %s\n", modbus_strerror(errno));
        return 1;
    }
    modbus_mapping_t *map = modbus_mapping_new(TABLE, TABLE, TABLE, TABLE);
    if (map == NULL) {
        fprintf(stderr, "modbus-server: modbus_mapping_new: %s\n", modbus_strerror(errno));
        return 1;
    }
    for (int i = 0; i < TABLE; i++) {
        map->tab_registers[i] = (uint16_t)i;
        map->tab_input_registers[i] = (uint16_t)i;
    }

    int server = modbus_tcp_listen(ctx, 256);
    if (server < 0) {
        fprintf(stderr, "modbus-server: cannot listen on %s:%d: %s\n", host, port, modbus_strerror(errno));
        return 1;
    }
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (getsockname(server, (struct sockaddr *)&addr, &len) < 0) {
        perror("modbus-server: getsockname");
        return 1;
    }
    signal(SIGCHLD, SIG_IGN); /* connection processes are reaped automatically */
    printf("ready port=%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    pid_t parent = getpid();
    for (;;) {
        int fd = accept(server, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            perror("modbus-server: accept");
            return 1;
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(server);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(0); /* the server died before prctl took effect */
            serve(ctx, map, fd);
            _exit(0);
        }
        if (pid < 0) perror("modbus-server: fork");
        close(fd);
    }
}
