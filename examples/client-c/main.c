/* Sends TEXT to the kernel KERNEL_ID over the control socket and prints the
 * reply:  pdc-example-c SOCKET KERNEL_ID [TEXT] */
#include <pdc/pdc.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s SOCKET KERNEL_ID [TEXT]\n", argv[0]);
    return 2;
  }
  const char* text = argc > 3 ? argv[3] : "hello from C";
  pdc_client* client = NULL;
  int rc = pdc_connect(argv[1], &client);
  if (rc != PDC_OK) {
    fprintf(stderr, "pdc-example-c: %s\n", pdc_last_error(NULL));
    return 1;
  }
  char reply[4096];
  size_t size = sizeof reply;
  rc = pdc_request(client, argv[2], text, strlen(text), NULL, 5000000000LL, reply, &size, NULL);
  if (rc != PDC_OK) {
    fprintf(stderr, "pdc-example-c: %s\n", pdc_last_error(client));
    pdc_close(client);
    return 1;
  }
  printf("%.*s\n", (int)size, reply);
  pdc_close(client);
  return 0;
}
