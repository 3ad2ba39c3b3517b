// pelvio-open reference firmware: a BLE IMU that speaks Pelvio's documented "pelvio-open" protocol.
//
// Board: Arduino Nano 33 BLE (rev1: LSM9DS1, rev2: BMI270 + BMM150) with the ArduinoBLE library.
// Other boards (ESP32 + any I2C IMU): keep the GATT layout and the notification format below and
// replace imuBegin() / imuRead() with your IMU's driver (and the BLE calls with your board's BLE library
// if ArduinoBLE does not run on it).
//
// Protocol (docs/profiles.md, firmware_profiles/pelvio_open.toml), all little-endian:
//   service  7e1a0001-5e1f-4c3a-9d2b-70656c76696f
//   data     7e1a0002-...  notify: seq u16 | t0 u32 (micros() at the first sample) | n u8 |
//                                  n x (acc int16[3] at 8192 counts/g, gyro int16[3] at 16.384 counts/(deg/s))
//   control  7e1a0003-...  write:  01 start, 00 stop, 02 <rate Hz u16> (25, 50 or 100; while stopped)
//   format   7e1a0004-...  read:   the scales as text, for people reading the device with a generic BLE app
//
// Samples are taken on a micros() grid at the configured rate, so the device timestamps and the nominal rate
// agree; the IMU runs faster (LSM9DS1 119 Hz, BMI270 100 Hz+) and the latest reading is used.

#include <ArduinoBLE.h>

// Pick the IMU of your board revision (the two libraries have the same API and both define `IMU`).
#define PELVIO_IMU_LSM9DS1 1   // Nano 33 BLE / Nano 33 BLE Sense rev1
// #define PELVIO_IMU_BMI270 1 // Nano 33 BLE rev2 / Sense rev2

#if defined(PELVIO_IMU_LSM9DS1)
#include <Arduino_LSM9DS1.h>
#elif defined(PELVIO_IMU_BMI270)
#include <Arduino_BMI270_BMM150.h>
#endif

// Samples per notification: 7 + 12 n bytes must fit the ATT MTU - 3 the central negotiated
// (n = 4 needs an MTU of at least 58; with the default MTU of 23 use n = 1).
const uint8_t SAMPLES_PER_NOTIFICATION = 4;
const float ACC_COUNTS_PER_G = 8192.0f;      // +-4 g in int16
const float GYR_COUNTS_PER_DPS = 16.384f;    // +-2000 deg/s in int16
const uint8_t HEADER_BYTES = 7;
const uint8_t SAMPLE_BYTES = 12;
const uint8_t MAX_PAYLOAD = HEADER_BYTES + SAMPLES_PER_NOTIFICATION * SAMPLE_BYTES;

BLEService pelvioService("7e1a0001-5e1f-4c3a-9d2b-70656c76696f");
BLECharacteristic dataChar("7e1a0002-5e1f-4c3a-9d2b-70656c76696f", BLENotify, MAX_PAYLOAD, false);
BLECharacteristic controlChar("7e1a0003-5e1f-4c3a-9d2b-70656c76696f", BLEWrite | BLEWriteWithoutResponse, 3, false);
BLEStringCharacteristic formatChar("7e1a0004-5e1f-4c3a-9d2b-70656c76696f", BLERead, 96);

uint16_t rateHz = 100;
bool streaming = false;
uint16_t notificationSeq = 0;
uint32_t nextSampleUs = 0;
uint8_t payload[MAX_PAYLOAD];
uint8_t samplesInPayload = 0;
float acc[3] = {0, 0, 1};
float gyr[3] = {0, 0, 0};

bool imuBegin() {
  return IMU.begin();
}

// Latest acceleration (g) and angular rate (deg/s); keeps the previous reading when none is new.
void imuRead(float a[3], float g[3]) {
  if (IMU.accelerationAvailable()) IMU.readAcceleration(a[0], a[1], a[2]);
  if (IMU.gyroscopeAvailable()) IMU.readGyroscope(g[0], g[1], g[2]);
}

int16_t toInt16(float value) {
  float r = roundf(value);
  if (r > 32767.0f) return 32767;
  if (r < -32768.0f) return -32768;
  return (int16_t)r;
}

void putU16(uint8_t *p, uint16_t v) { p[0] = v & 0xff; p[1] = v >> 8; }
void putU32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (v >> (8 * i)) & 0xff; }

void updateFormat() {
  formatChar.writeValue(String("pelvio-open/1 acc_counts_per_g=8192 gyr_counts_per_dps=16.384 rate_hz=") +
                        String(rateHz) + " n=" + String(SAMPLES_PER_NOTIFICATION));
}

void onControl(BLEDevice, BLECharacteristic) {
  const uint8_t *cmd = controlChar.value();
  int len = controlChar.valueLength();
  if (len == 1 && cmd[0] == 0x01) {
    streaming = true;
    samplesInPayload = 0;
    nextSampleUs = micros();
  } else if (len == 1 && cmd[0] == 0x00) {
    streaming = false;
  } else if (len == 3 && cmd[0] == 0x02 && !streaming) {
    uint16_t hz = cmd[1] | (cmd[2] << 8);
    if (hz == 25 || hz == 50 || hz == 100) {
      rateHz = hz;
      updateFormat();
    }
  }
}

void onDisconnect(BLEDevice) {
  streaming = false;
  digitalWrite(LED_BUILTIN, LOW);
}

void onConnect(BLEDevice) {
  digitalWrite(LED_BUILTIN, HIGH);
}

void setup() {
  pinMode(LED_BUILTIN, OUTPUT);
  if (!imuBegin() || !BLE.begin()) {
    while (true) {  // blink forever: no IMU or no radio
      digitalWrite(LED_BUILTIN, !digitalRead(LED_BUILTIN));
      delay(100);
    }
  }
  BLE.setLocalName("Pelvio");
  BLE.setDeviceName("Pelvio");
  BLE.setConnectionInterval(0x0006, 0x000c);  // 7.5 to 15 ms (the central decides)
  BLE.setAdvertisedService(pelvioService);
  pelvioService.addCharacteristic(dataChar);
  pelvioService.addCharacteristic(controlChar);
  pelvioService.addCharacteristic(formatChar);
  BLE.addService(pelvioService);
  updateFormat();
  controlChar.setEventHandler(BLEWritten, onControl);
  BLE.setEventHandler(BLEConnected, onConnect);
  BLE.setEventHandler(BLEDisconnected, onDisconnect);
  BLE.advertise();
}

void loop() {
  BLE.poll();
  imuRead(acc, gyr);
  if (!streaming || (int32_t)(micros() - nextSampleUs) < 0) return;

  uint32_t sampleUs = nextSampleUs;
  nextSampleUs += 1000000UL / rateHz;
  if (samplesInPayload == 0) {
    putU16(payload, notificationSeq);
    putU32(payload + 2, sampleUs);
  }
  uint8_t *s = payload + HEADER_BYTES + samplesInPayload * SAMPLE_BYTES;
  for (int i = 0; i < 3; i++) {
    putU16(s + 2 * i, (uint16_t)toInt16(acc[i] * ACC_COUNTS_PER_G));
    putU16(s + 6 + 2 * i, (uint16_t)toInt16(gyr[i] * GYR_COUNTS_PER_DPS));
  }
  samplesInPayload++;
  if (samplesInPayload == SAMPLES_PER_NOTIFICATION) {
    payload[6] = samplesInPayload;
    dataChar.writeValue(payload, HEADER_BYTES + samplesInPayload * SAMPLE_BYTES);
    notificationSeq++;
    samplesInPayload = 0;
  }
}
