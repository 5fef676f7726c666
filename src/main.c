/*
 * main.c - iotgate's entry point: options, configuration, workers, signals.
 *
 * The main thread starts the workers, then only waits for signals:
 * SIGTERM/SIGINT stop the broker (clients get DISCONNECT 0x8B), SIGHUP
 * reloads the configuration, and a 1 s tick drives $SYS updates.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "broker/broker.h"
#include "broker/mqtt_ws.h"
#include "core/globals.h"
#include "core/version.h"
#include "net/net.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: iotgate [--config FILE] [--version] [--help]\n"
            "\n"
            "  -c, --config FILE   read the INI configuration FILE (default: built-in)\n"
            "  -v, --version       print the version and exit\n"
            "  -h, --help          print this help and the configuration options\n"
            "\n"
            "Signals: SIGTERM/SIGINT stop, SIGHUP reloads the configuration.\n"
            "\nConfiguration options and their defaults:\n\n");
    iot_config_describe(f);
}

/* Builds the configuration from the built-in defaults and path (may be NULL). */
static iot_config_t *load_config(const char *path)
{
    iot_config_t *cfg = malloc(sizeof *cfg);
    if (!cfg) return NULL;
    iot_config_defaults(cfg);
    char err[512];
    if (path && iot_config_load(cfg, path, err, sizeof err) != 0) {
        log_error("config: %s", err);
        free(cfg);
        return NULL;
    }
    return cfg;
}

static void reload(const char *path)
{
    const iot_config_t *old = iot_config();
    iot_config_t *cfg = load_config(path);
    if (!cfg) {
        log_error("config reload failed; keeping the running configuration");
        return;
    }
    if (strcmp(cfg->listen, old->listen) || strcmp(cfg->ws_listen, old->ws_listen) || cfg->workers != old->workers)
        log_warn("config reload: listen, ws_listen and workers take effect at the next start");
    /* Settings that shape threads and sockets stay as started. */
    strcpy(cfg->listen, old->listen);
    strcpy(cfg->ws_listen, old->ws_listen);
    cfg->workers = old->workers;
    iot_log_set_level(cfg->log_level);
    iot_config_swap(cfg);
    log_info("configuration reloaded from %s", path ? path : "built-in defaults");
}

static int is_loopback(const char *listen)
{
    char buf[1100];
    snprintf(buf, sizeof buf, "%s", listen);
    for (char *save, *a = strtok_r(buf, ", ", &save); a; a = strtok_r(NULL, ", ", &save))
        if (strncmp(a, "127.", 4) && strncmp(a, "[::1]", 5) && strncmp(a, "localhost:", 10)) return 0;
    return 1;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-v")) {
            printf("iotgate %s\n", IOT_VERSION);
            return 0;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if ((!strcmp(argv[i], "--config") || !strcmp(argv[i], "-c")) && i + 1 < argc) {
            path = argv[++i];
        } else {
            fprintf(stderr, "iotgate: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    iot_config_t *cfg = load_config(path);
    if (!cfg) return 1;
    iot_config_swap(cfg);
    iot_log_set_level(cfg->log_level);
    if (cfg->data_dir[0] && mkdir(cfg->data_dir, 0750) != 0 && errno != EEXIST) {
        log_error("data_dir %s: %s", cfg->data_dir, strerror(errno));
        return 1;
    }

    int nworkers = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nworkers < 1) nworkers = 1;
    iot_worker_t *workers = calloc((size_t)nworkers, sizeof *workers);
    if (!workers) return 1;
    for (int i = 0; i < nworkers; i++)
        if (iot_worker_init(&workers[i], i) != 0) return 1;
    if (broker_init(workers, nworkers) != 0) return 1;

    char listen[512];
    snprintf(listen, sizeof listen, "%s", cfg->listen);
    for (char *save, *a = strtok_r(listen, ", ", &save); a; a = strtok_r(NULL, ", ", &save))
        for (int i = 0; i < nworkers; i++)
            if (iot_worker_listen(&workers[i], a, broker_on_accept) != 0) return 1;
    snprintf(listen, sizeof listen, "%s", cfg->ws_listen);
    for (char *save, *a = strtok_r(listen, ", ", &save); a; a = strtok_r(NULL, ", ", &save))
        for (int i = 0; i < nworkers; i++)
            if (iot_worker_listen(&workers[i], a, mqtt_ws_on_accept) != 0) return 1;

    /* Signals go to this thread only: block them before the workers start. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    for (int i = 0; i < nworkers; i++)
        if (iot_worker_start(&workers[i]) != 0) return 1;

    log_info("iotgate %s started: %d workers, MQTT on %s, MQTT/WebSocket on %s, data in %s", IOT_VERSION, nworkers,
             cfg->listen, cfg->ws_listen[0] ? cfg->ws_listen : "(off)", cfg->data_dir);
    char all[1100];
    snprintf(all, sizeof all, "%s,%s", cfg->listen, cfg->ws_listen);
    if (is_loopback(all))
        log_info("listening on loopback only; to open to the network set [mqtt] listen = 0.0.0.0:1883 "
                 "(and turn allow_anonymous off)");

    uint64_t next_sys = iot_now_ms();
    for (;;) {
        /* $SYS is published at once at start, so its retained values are
         * there for the first subscriber, then every sys_interval. */
        int interval = iot_config()->sys_interval;
        if (interval > 0 && iot_now_ms() >= next_sys) {
            broker_post_sys();
            next_sys = iot_now_ms() + (uint64_t)interval * 1000u;
        }
        struct timespec ts = {1, 0};
        int sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            log_info("signal %d: shutting down", sig);
            break;
        }
        if (sig == SIGHUP) reload(path);
    }

    broker_shutdown();
    for (int i = 0; i < nworkers; i++) pthread_join(workers[i].thread, NULL);
    broker_close();
    for (int i = 0; i < nworkers; i++) iot_worker_close(&workers[i]);
    free(workers);
    log_info("stopped");
    iot_config_release_all();
    return 0;
}
