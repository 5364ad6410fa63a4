/* A library that is not a plugin pdcd should ever open: its constructor runs
 * inside whoever dlopens it, before any check could. It leaves a mark (the
 * file named by $PDC_EVIL_MARKER), so a test can tell that it never ran.
 * Built outside the plugin folders on purpose. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void pdc_test_evil_ran(void) {
  const char* marker = getenv("PDC_EVIL_MARKER");
  if (marker == NULL) return;
  int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) close(fd);
}
