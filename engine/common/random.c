/*
 * random.c - saga_random_* (see random.h).
 */
#include "random.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Fills buf from the kernel (getrandom, blocking only until the pool is
 * first seeded, then /dev/urandom). The fallback mixes clock and pid with a counter
 * only if both getrandom and /dev/urandom fail (a sandbox without either),
 * so a trace id is still produced, just not cryptographically random. */
void saga_random_bytes(void *out, size_t n)
{
    unsigned char *buf = out;
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r > 0)
            got += (size_t)r;
        else if (r < 0 && errno != EINTR)
            break;
    }
    if (got < n) {
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            while (got < n) {
                ssize_t r = read(fd, buf + got, n - got);
                if (r > 0)
                    got += (size_t)r;
                else if (r < 0 && errno == EINTR)
                    continue;
                else
                    break;
            }
            close(fd);
        }
    }
    if (got < n) {
        static unsigned long counter;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long long x = (unsigned long long)ts.tv_nsec ^
                               ((unsigned long long)ts.tv_sec << 20) ^
                               ((unsigned long long)getpid() << 40) ^
                               __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        for (; got < n; got++) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            buf[got] = (unsigned char)((x * 0x2545F4914F6CDD1DULL) >> 56);
        }
    }
}

uint32_t saga_random32(void)
{
    uint32_t r;
    saga_random_bytes(&r, sizeof r);
    return r;
}

void saga_random_uuid(char out[37])
{
    unsigned char b[16];
    saga_random_bytes(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
             b[11], b[12], b[13], b[14], b[15]);
}
