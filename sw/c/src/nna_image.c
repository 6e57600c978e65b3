/* Weight image checks (format version 1, docs/contracts.md): everything the driver can
 * verify before a single register or DMA write. */
#include <string.h>

#include "nna.h"

/* CRC-32 (IEEE 802.3, zlib's), four bits at a time: a 16-entry table keeps it small for
 * bare-metal while staying ~4x faster than bitwise. */
uint32_t nna_crc32(uint32_t crc, const void *data, size_t len) {
    static const uint32_t t[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
        0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu, 0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
    };
    const uint8_t *p = (const uint8_t *)data;
    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        crc = (crc >> 4) ^ t[crc & 15u];
        crc = (crc >> 4) ^ t[crc & 15u];
    }
    return ~crc;
}

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

int nna_check_image(const nna_model_t *m, const void *image, size_t len) {
    const uint8_t *h = (const uint8_t *)image;
    uint32_t payload, encoding;
    if (m == NULL || image == NULL) return NNA_ERR_ARG;
    if (!m->external_weights) return NNA_ERR_NOT_LOADABLE;
    if (len < NNA_IMAGE_HEADER_BYTES) return NNA_ERR_IMAGE_SHORT;
    if (rd32(h) != NNA_IMAGE_MAGIC) return NNA_ERR_IMAGE_MAGIC;
    if (rd16(h + 4) != NNA_IMAGE_VERSION) return NNA_ERR_IMAGE_VERSION;
    if (rd32(h + 8) != m->fingerprint) return NNA_ERR_IMAGE_LAYOUT;
    encoding = rd16(h + 6);
    if (encoding > 1u) return NNA_ERR_IMAGE_ENCODING; /* the IP reads native and float32 */
    if (rd16(h + 12) != m->bus_width) return NNA_ERR_IMAGE_BUS;
    payload = rd32(h + 16);
    if (rd16(h + 14) != NNA_IMAGE_HEADER_BYTES || payload != m->image_payload_bytes[encoding] ||
        rd32(h + 20) != m->image_values)
        return NNA_ERR_IMAGE_LENGTH;
    if (len - NNA_IMAGE_HEADER_BYTES < payload) return NNA_ERR_IMAGE_SHORT;
    /* bytes after the payload mean a wrong file (two images concatenated, a padded copy): refuse */
    if (len - NNA_IMAGE_HEADER_BYTES > payload) return NNA_ERR_IMAGE_LENGTH;
    /* a reserved word in use is a format revision this driver does not know */
    if (rd32(h + 28) != 0u) return NNA_ERR_IMAGE_VERSION;
    if (nna_crc32(0, h + NNA_IMAGE_HEADER_BYTES, payload) != rd32(h + 24)) return NNA_ERR_IMAGE_CRC;
    return NNA_OK;
}
