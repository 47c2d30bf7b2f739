// Face TEST templates: fixed pseudo-random vectors standing in for a face model's output, so
// a passenger can enrol "test face A" and a gate can present it (no camera, no images).

export const TEST_FACES = ["A", "B", "C"];
export const FACE_DIMENSION = 128;   // settings.gates.face_dimension's default

// the same vector for the same name on every device (xorshift32 seeded from the name)
export function testTemplate(name, dim = FACE_DIMENSION) {
  let x = 0x9e3779b9 ^ (name.charCodeAt(0) * 0x01000193);
  const out = [];
  for (let i = 0; i < dim; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out.push(Math.round(((x / 0xffffffff) * 2 - 1) * 1e6) / 1e6);
  }
  return out;
}
