/* edgecoap tests: HTTP requests to the server's operators' endpoint through curl. */
/* SPDX-License-Identifier: Apache-2.0 */
#include "ithttp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

#ifndef CURL_BIN
#error "CURL_BIN must name curl"
#endif

int it_http(uint16_t port, const char *method, const char *path,
            const char *token, const char *header, char **out) {
  char url[512], auth[160], status[8];
  snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
  snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token ? token : "");
  const char *argv[20];
  int n = 0;
  argv[n++] = CURL_BIN;
  argv[n++] = "-sS";
  argv[n++] = "-i";
  argv[n++] = "--max-time";
  argv[n++] = "5";
  argv[n++] = "-X";
  argv[n++] = method;
  argv[n++] = "-w";
  argv[n++] = "\n%{http_code}";
  if (token != NULL) {
    argv[n++] = "-H";
    argv[n++] = auth;
  }
  if (header != NULL) {
    argv[n++] = "-H";
    argv[n++] = header;
  }
  argv[n++] = url;
  argv[n] = NULL;
  it_result_t r;
  int rc = it_run(argv, NULL, 0, 10000, &r);
  int code = -1;
  if (rc == 0) {
    const char *last = strrchr(r.out, '\n');
    snprintf(status, sizeof(status), "%s", last ? last + 1 : "");
    code = atoi(status);
  } else if (r.exit_code != 7) { /* 7: nothing listens (yet) */
    it_result_dump("curl", &r);
  }
  if (out != NULL) {
    *out = r.out;
    r.out = NULL;
  }
  it_result_free(&r);
  return code;
}

char *it_http_body(char *all) {
  char *body = all != NULL ? strstr(all, "\r\n\r\n") : NULL;
  if (body == NULL)
    return NULL;
  body += 4;
  char *end = strrchr(body, '\n'); /* curl's status line */
  if (end != NULL)
    *end = '\0';
  return body;
}

double it_http_metric(uint16_t port, const char *name) {
  char *all = NULL;
  double v = -1;
  if (it_http(port, "GET", "/metrics", NULL, NULL, &all) == 200) {
    size_t n = strlen(name);
    for (const char *p = all; p != NULL && *p != '\0';) {
      if (strncmp(p, name, n) == 0 && p[n] == ' ') {
        v = strtod(p + n + 1, NULL);
        break;
      }
      p = strchr(p, '\n');
      if (p != NULL)
        p++;
    }
  }
  free(all);
  return v;
}
