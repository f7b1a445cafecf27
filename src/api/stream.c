/* A bounded byte pipe between a producer thread (an exec, an image pull) and the HTTP
 * response that MHD reads from its connection thread.  Reference-counted: the producer and
 * the consumer each drop theirs; the last one frees it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

struct api_stream {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *buf;
    size_t cap, len, max;
    bool finished;  /* producer done */
    bool cancelled; /* consumer gone */
    int refs;
};

struct api_stream *api_stream_new(size_t max_buffered)
{
    struct api_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->max = max_buffered ? max_buffered : (1u << 20);
    s->refs = 2;
    return s;
}

static void unref_locked_and_unlock(struct api_stream *s)
{
    bool last = --s->refs == 0;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (last) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s->buf);
        free(s);
    }
}

int api_stream_write(struct api_stream *s, const void *data, size_t len)
{
    const char *p = data;
    pthread_mutex_lock(&s->mu);
    while (len > 0) {
        while (!s->cancelled && s->len >= s->max)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->cancelled) {
            pthread_mutex_unlock(&s->mu);
            return -EPIPE;
        }
        size_t room = s->max - s->len, n = len < room ? len : room;
        if (s->len + n > s->cap) {
            size_t nc = s->cap ? s->cap : 4096;
            while (nc < s->len + n)
                nc *= 2;
            char *nb = realloc(s->buf, nc);
            if (!nb) {
                pthread_mutex_unlock(&s->mu);
                return -ENOMEM;
            }
            s->buf = nb;
            s->cap = nc;
        }
        memcpy(s->buf + s->len, p, n);
        s->len += n;
        p += n;
        len -= n;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void api_stream_finish(struct api_stream *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->finished = true;
    unref_locked_and_unlock(s);
}

bool api_stream_cancelled(struct api_stream *s)
{
    pthread_mutex_lock(&s->mu);
    bool c = s->cancelled;
    pthread_mutex_unlock(&s->mu);
    return c;
}

long api_stream_read(struct api_stream *s, char *buf, size_t max)
{
    pthread_mutex_lock(&s->mu);
    while (s->len == 0 && !s->finished)
        pthread_cond_wait(&s->cv, &s->mu);
    size_t n = s->len < max ? s->len : max;
    if (n) {
        memcpy(buf, s->buf, n);
        memmove(s->buf, s->buf + n, s->len - n);
        s->len -= n;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return (long)n;
}

void api_stream_close_consumer(struct api_stream *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->cancelled = true;
    unref_locked_and_unlock(s);
}
