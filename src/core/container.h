/*
 * container.h - iot_container_of: from a pointer to a field embedded in a
 * struct (a timer, a task, a loop handle) back to the struct that holds it.
 */
#ifndef IOT_CONTAINER_H
#define IOT_CONTAINER_H

#include <stddef.h>

#define iot_container_of(ptr, type, field) ((type *)((char *)(ptr) - offsetof(type, field)))

#endif
