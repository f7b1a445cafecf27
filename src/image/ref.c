/* image: strict parsing of image references, of WWW-Authenticate challenges and of the token
 * service's answer.
 *
 * Reference grammar (distribution/reference, minus the implicit docker.io):
 *   ref       := host [":" port] "/" path [":" tag] ["@" digest]
 *   host      := DNS name with at least one '.', "localhost", or "[" IPv6 "]"
 *   path      := component ("/" component)*,  component := [a-z0-9]+ (sep [a-z0-9]+)*
 *   sep       := "." | "_" | "__" | "-"+
 *   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/ids.h"
#include "common/json.h"
#include "image/img_internal.h"

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool component_valid(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n;) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && !is_lower_alnum(s[j]))
            j++;
        size_t sl = j - i;
        const char *sep = s + i;
        bool ok = (sl == 1 && (*sep == '.' || *sep == '_' || *sep == '-')) ||
                  (sl == 2 && sep[0] == '_' && sep[1] == '_');
        if (!ok) {
            ok = true;
            for (size_t k = 0; k < sl; k++)
                ok = ok && sep[k] == '-';
        }
        if (!ok)
            return false;
        i = j;
    }
    return true;
}

static bool host_valid(const char *h, size_t n)
{
    if (n == 0 || n > 253 + 6)
        return false;
    size_t hostlen = n;
    if (h[0] == '[') { /* [v6] or [v6]:port */
        const char *close = memchr(h, ']', n);
        if (!close || close == h + 1)
            return false;
        for (const char *p = h + 1; p < close; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
                return false;
        hostlen = (size_t)(close - h) + 1;
        if (hostlen != n && h[hostlen] != ':')
            return false;
    } else {
        const char *colon = memchr(h, ':', n);
        if (colon)
            hostlen = (size_t)(colon - h);
        if (hostlen == 0)
            return false;
        bool has_dot = false;
        for (size_t i = 0; i < hostlen; i++) {
            char c = h[i];
            if (c == '.') {
                if (i == 0 || h[i - 1] == '.' || i + 1 == hostlen)
                    return false;
                has_dot = true;
            } else if (!isalnum((unsigned char)c) && c != '-') {
                return false;
            }
        }
        if (!has_dot && !(hostlen == 9 && strncmp(h, "localhost", 9) == 0))
            return false;
    }
    if (hostlen < n) { /* ":port" */
        const char *p = h + hostlen + 1;
        size_t pl = n - hostlen - 1;
        if (pl == 0 || pl > 5)
            return false;
        unsigned port = 0;
        for (size_t i = 0; i < pl; i++) {
            if (!isdigit((unsigned char)p[i]))
                return false;
            port = port * 10 + (unsigned)(p[i] - '0');
        }
        if (port == 0 || port > 65535)
            return false;
    }
    return true;
}

static bool tag_valid(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        bool ok = isalnum((unsigned char)c) || c == '_' || (i > 0 && (c == '.' || c == '-'));
        if (!ok)
            return false;
    }
    return true;
}

int img_ref_parse(const char *s, struct img_ref *ret, struct al_err *err)
{
    struct img_ref r = {0};
    if (!s || !*s)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "empty image reference");
    size_t len = strlen(s);
    if (len > 512)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "image reference too long");
    char buf[513];
    memcpy(buf, s, len + 1);
    char *at = strchr(buf, '@');
    if (at) {
        *at = '\0';
        if (!al_digest_valid(at + 1))
            return al_err_set(err, AL_ERR_INVALID, EINVAL,
                              "image reference: digest must be sha256:<64 lowercase hex>");
        memcpy(r.digest, at + 1, strlen(at + 1) + 1);
    }
    char *slash = strchr(buf, '/');
    if (!slash)
        return al_err_set(err, AL_ERR_INVALID, EINVAL,
                          "image reference '%.200s' needs a registry host (host[:port]/repo)", s);
    if ((size_t)(slash - buf) >= sizeof(r.host) || !host_valid(buf, (size_t)(slash - buf)))
        return al_err_set(err, AL_ERR_INVALID, EINVAL,
                          "image reference '%.200s': '%.*s' is not a registry host (no implicit "
                          "docker.io: name the registry, e.g. registry-1.docker.io/library/x)",
                          s, (int)(slash - buf) > 100 ? 100 : (int)(slash - buf), buf);
    memcpy(r.host, buf, (size_t)(slash - buf));
    r.host[slash - buf] = '\0';
    char *path = slash + 1;
    char *lastslash = strrchr(path, '/');
    char *colon = strchr(lastslash ? lastslash : path, ':');
    if (colon) {
        *colon = '\0';
        if (!tag_valid(colon + 1))
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "image reference: invalid tag");
        memcpy(r.tag, colon + 1, strlen(colon + 1) + 1);
    }
    size_t plen = strlen(path);
    if (plen == 0 || plen >= sizeof(r.repo))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "image reference: bad repository length");
    for (const char *p = path; *p;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (!component_valid(p, n))
            return al_err_set(err, AL_ERR_INVALID, EINVAL,
                              "image reference: invalid repository name '%.200s'", path);
        p += n;
        if (*p == '/')
            p++;
        if (e && !*p)
            return al_err_set(err, AL_ERR_INVALID, EINVAL,
                              "image reference: repository ends with '/'");
    }
    memcpy(r.repo, path, plen + 1);
    if (!r.tag[0] && !r.digest[0])
        memcpy(r.tag, "latest", 7);
    *ret = r;
    return 0;
}

/* ---- WWW-Authenticate: scheme SP param=value ("," param=value)*, value token or quoted ---- */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

int img_challenge_parse(const char *h, struct img_challenge *ret)
{
    struct img_challenge c = {0};
    const char *p = skip_ws(h);
    size_t n = 0;
    while (p[n] && p[n] != ' ' && p[n] != '\t' && p[n] != ',')
        n++;
    if (n == 0 || n >= sizeof(c.scheme))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        c.scheme[i] = (char)tolower((unsigned char)p[i]);
    p = skip_ws(p + n);
    while (*p) {
        char key[32], val[1024];
        size_t kl = 0;
        while (*p && *p != '=' && *p != ',' && *p != ' ' && *p != '\t') {
            if (kl + 1 >= sizeof(key))
                return -EINVAL;
            key[kl++] = (char)tolower((unsigned char)*p++);
        }
        key[kl] = '\0';
        p = skip_ws(p);
        if (*p != '=' || kl == 0)
            return -EINVAL;
        p = skip_ws(p + 1);
        size_t vl = 0;
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p)
                    return -EINVAL; /* unterminated */
                if (*p == '"') {
                    p++;
                    break;
                }
                if (*p == '\\' && p[1])
                    p++;
                if ((unsigned char)*p < 0x20 || vl + 1 >= sizeof(val))
                    return -EINVAL;
                val[vl++] = *p++;
            }
        } else {
            while (*p && *p != ',' && *p != ' ' && *p != '\t') {
                if ((unsigned char)*p < 0x20 || *p == '"' || vl + 1 >= sizeof(val))
                    return -EINVAL;
                val[vl++] = *p++;
            }
        }
        val[vl] = '\0';
        char *dst = NULL;
        size_t cap = 0;
        if (strcmp(key, "realm") == 0)
            dst = c.realm, cap = sizeof(c.realm);
        else if (strcmp(key, "service") == 0)
            dst = c.service, cap = sizeof(c.service);
        else if (strcmp(key, "scope") == 0)
            dst = c.scope, cap = sizeof(c.scope);
        if (dst) {
            if (vl >= cap)
                return -EINVAL;
            memcpy(dst, val, vl + 1);
        }
        p = skip_ws(p);
        if (*p == ',')
            p = skip_ws(p + 1);
        else if (*p)
            return -EINVAL;
    }
    if (strcmp(c.scheme, "bearer") == 0 && !c.realm[0])
        return -EINVAL;
    *ret = c;
    return 0;
}

/* ---- token service response: {"token": T} or {"access_token": T} ---- */

static const char *token_field(json_t *j, const char *key)
{
    const char *t = NULL;
    if (al_json_get_str(j, key, false, IMG_MAX_TOKEN, &t, NULL) < 0 || !t || !t[0])
        return NULL;
    return t;
}

int img_token_parse(const char *body, size_t len, char **ret_token, struct al_err *err)
{
    if (!body || !len)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "empty response");
    struct al_err perr;
    cleanup_json json_t *j = al_json_parse(body, len, 4, &perr);
    if (!j) {
        if (err)
            *err = perr;
        return -perr.code;
    }
    if (!json_is_object(j))
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "response is not a JSON object");
    /* both may be present and should be equal; an empty or mistyped "token" falls back */
    const char *tok = token_field(j, "token");
    if (!tok)
        tok = token_field(j, "access_token");
    if (!tok)
        return al_err_set(err, AL_ERR_INVALID, EINVAL, "no token in response");
    /* it goes into an Authorization header: no spaces, controls or DEL */
    for (const char *p = tok; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return al_err_set(err, AL_ERR_INVALID, EINVAL, "malformed token");
    char *t = strdup(tok);
    if (!t)
        return al_err_set(err, AL_ERR_INTERNAL, ENOMEM, "out of memory");
    *ret_token = t;
    return 0;
}
