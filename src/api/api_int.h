/*
 * api_int.h - handlers shared between the resource files and routes.c.
 */
#ifndef TW_API_API_INT_H
#define TW_API_API_INT_H

#include "api/api.h"

int api_health_get(struct http_request *req);
int api_openapi_get(struct http_request *req);

#endif
