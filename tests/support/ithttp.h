/* edgecoap tests: HTTP requests to the server's operators' endpoint through curl. */
/* SPDX-License-Identifier: Apache-2.0 */
#ifndef EDGECOAP_ITHTTP_H
#define EDGECOAP_ITHTTP_H

#include <stdint.h>

/**
 * One request with curl (CURL_BIN) to http://127.0.0.1:@p port@p path, with
 * `Authorization: Bearer @p token` when @p token is not NULL and the extra
 * header line @p header (or NULL).
 * @param[out] out  when not NULL: the response's status line, headers and
 *                  body, malloc'd (free it), with curl's status code on a
 *                  last line of its own
 * @return the HTTP status, or -1 (nothing answered)
 */
int it_http(uint16_t port, const char *method, const char *path,
            const char *token, const char *header, char **out);

/** The body of @p all (as it_http() filled it): after the headers, up to
 * the status code line, which is cut off in place; NULL if malformed. */
char *it_http_body(char *all);

/** The value of series @p name (with its labels, as a scrape writes it:
 * `a_total{x="y"}`) in a scrape of /metrics on @p port; -1 when absent
 * (a series that counted nothing is left out) or not answered. */
double it_http_metric(uint16_t port, const char *name);

#endif /* EDGECOAP_ITHTTP_H */
