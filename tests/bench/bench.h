/*
 * bench.h - what every benchmark probe shares: a clock, percentiles, the
 * CPU and memory of a watched process, and small helpers for flags.
 *
 * Header-only on purpose: the Makefile builds each .c file of tests/bench into its
 * own program, so a shared .c file would become a program of its own. The
 * probes print one JSON object on stdout (run.sh assembles them into
 * build/bench/results.json) and their progress on stderr.
 */
#ifndef SAGA_BENCH_H
#define SAGA_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Wall clock in microseconds: comparable with PostgreSQL's timestamps on
 * the same machine. */
static inline int64_t bench_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Monotonic clock in microseconds, for intervals. */
static inline int64_t bench_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline void bench_sleep_us(int64_t us)
{
    if (us <= 0)
        return;
    struct timespec ts = {us / 1000000, (long)(us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v in place. */
static inline void bench_sort(double *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_cmp_double);
}

/* Nearest-rank percentile (p in [0, 100]) of sorted v; 0 when empty. */
static inline double bench_pct(const double *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static inline double bench_mean(const double *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    return n ? s / (double)n : 0;
}

/* Prints "p50": ..., "p95": ... "max": ... of sorted v (milliseconds). */
static inline void bench_print_pcts(FILE *out, const double *sorted, size_t n)
{
    fprintf(out, "{\"n\": %zu, \"mean\": %.3f, \"p50\": %.3f, \"p95\": %.3f, "
                 "\"p99\": %.3f, \"max\": %.3f}",
            n, bench_mean(sorted, n), bench_pct(sorted, n, 50), bench_pct(sorted, n, 95),
            bench_pct(sorted, n, 99), n ? sorted[n - 1] : 0.0);
}

/* CPU time (user + system) and memory of one process, from /proc. */
typedef struct bench_proc {
    char name[32];
    int pid;
    double cpu0_s;     /* CPU seconds when the phase began */
    double cpu1_s;     /* ... and when it ended */
    long rss_kb;       /* VmRSS at the last sample */
    long rss_max_kb;   /* largest VmRSS sampled during the phase */
    long hwm_kb;       /* VmHWM: peak RSS since the process started */
} bench_proc;

/* utime + stime of pid in seconds, or -1 when it is gone. */
static inline double bench_proc_cpu(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name, which may contain spaces. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS and VmHWM of pid in kB (left unchanged when unreadable). */
static inline void bench_proc_mem(int pid, long *rss_kb, long *hwm_kb)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss_kb = atol(line + 6);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm_kb = atol(line + 6);
    }
    fclose(f);
}

/* Parses "name=pid". 0, or -1 when malformed. */
static inline int bench_proc_parse(bench_proc *p, const char *spec)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || (size_t)(eq - spec) >= sizeof p->name)
        return -1;
    memset(p, 0, sizeof *p);
    memcpy(p->name, spec, (size_t)(eq - spec));
    p->pid = atoi(eq + 1);
    return p->pid > 0 ? 0 : -1;
}

static inline void bench_proc_begin(bench_proc *p)
{
    p->cpu0_s = bench_proc_cpu(p->pid);
    p->rss_max_kb = 0;
    bench_proc_mem(p->pid, &p->rss_kb, &p->hwm_kb);
}

static inline void bench_proc_sample(bench_proc *p)
{
    bench_proc_mem(p->pid, &p->rss_kb, &p->hwm_kb);
    if (p->rss_kb > p->rss_max_kb)
        p->rss_max_kb = p->rss_kb;
}

static inline void bench_proc_end(bench_proc *p)
{
    p->cpu1_s = bench_proc_cpu(p->pid);
    bench_proc_sample(p);
}

/* {"cpu_s": ..., "cpu_s_per_1000": ..., "rss_kb": ..., ...} for a phase
 * that finished `sagas` sagas. */
static inline void bench_proc_print(FILE *out, const bench_proc *p, long sagas)
{
    double cpu = p->cpu0_s >= 0 && p->cpu1_s >= 0 ? p->cpu1_s - p->cpu0_s : -1;
    fprintf(out, "\"%s\": {\"pid\": %d, \"cpu_s\": %.2f, \"cpu_s_per_1000\": %.3f, "
                 "\"rss_kb\": %ld, \"rss_max_kb\": %ld, \"rss_peak_kb\": %ld}",
            p->name, p->pid, cpu, sagas > 0 && cpu >= 0 ? cpu * 1000.0 / (double)sagas : -1,
            p->rss_kb, p->rss_max_kb, p->hwm_kb);
}

/* Value of `--name value` style flags; fails loudly on a missing value. */
static inline const char *bench_arg(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "%s: %s needs a value\n", argv[0], argv[*i]);
        exit(2);
    }
    return argv[++*i];
}

#endif
