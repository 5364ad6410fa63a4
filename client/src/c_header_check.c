/* Compiles every public C header together as strict ISO C (C11, -Wpedantic,
 * warnings as errors), so the C ABIs stay usable from C and no macro name
 * means two things across them. Nothing here is called. */
#include "pdc/errors.h"
#include "pdc/kinds.h"
#include "pdc/pdc.h"
#include "pdc/plugin.h"

/* One meaning per name: the tier values of the client ABI are the plugin ABI's mask positions. */
typedef char pdc_check_tier_mask[PDC_TIER_MASK(PDC_TIER_POOL) == 8u ? 1 : -1];
typedef char pdc_check_struct_size
    [sizeof(((pdc_launch_options*)0)->struct_size) == sizeof(((pdc_kernel_type*)0)->struct_size) ? 1 : -1];

static int __attribute__((unused)) pdc_header_check_usage(void) {
  pdc_client* client = 0;
  pdc_launch_options launch;
  pdc_send_options send;
  pdc_message_info info;
  char reply[64];
  size_t reply_size = sizeof reply;
  int rc = pdc_connect(0, &client);
  if (rc != PDC_OK) return rc;
  pdc_launch_options_init(&launch);
  launch.kernel_type = "echo";
  launch.kernel_id = "e";
  pdc_send_options_init(&send);
  info.struct_size = sizeof info;
  rc = pdc_launch(client, &launch);
  if (rc == PDC_OK) rc = pdc_request(client, "e", "hi", 2, &send, 1000000000, reply, &reply_size, &info);
  if (rc == PDC_OK) {
    pdc_attach_options attach;
    pdc_attachment* attachment = 0;
    pdc_attach_options_init(&attach);
    attach.full_policy = PDC_FULL_FAIL;
    rc = pdc_attach(client, "e", &attach, &attachment);
    reply_size = sizeof reply;
    if (rc == PDC_OK) rc = pdc_attachment_request(attachment, "hi", 2, 0, -1, reply, &reply_size, &info);
    if (rc == PDC_OK) rc = pdc_attachment_detach(attachment);
    pdc_attachment_close(attachment);
  }
  pdc_close(client);
  return rc;
}
