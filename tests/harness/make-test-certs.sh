#!/usr/bin/env bash
# make-test-certs.sh DIR: a private CA and the server certificates the fault
# tests need, all EC P-256 (fast, also under valgrind):
#   ca.pem / ca.key                the test CA (trusted through CACert)
#   good.pem / good.key            localhost, 127.0.0.1, ::1; signed by the CA
#   expired.pem / expired.key      same names, signed by the CA, expired in 2020
#   wrongname.pem / wrongname.key  wrong.example.test only; signed by the CA
#   selfsigned.pem / selfsigned.key  localhost, 127.0.0.1, ::1; self-signed
# Does nothing when DIR already holds a set made in the last 12 hours (the
# certificates are valid for 2 days).
set -euo pipefail
dir=$1
if [[ -e $dir/selfsigned.pem && -n $(find "$dir/selfsigned.pem" -mmin -720) ]]; then
  exit 0
fi
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"
ossl() { openssl "$@" 2>>openssl.log; }

ossl ecparam -name prime256v1 -genkey -noout -out ca.key
ossl req -x509 -new -key ca.key -sha256 -days 3 -subj "/CN=pop3 fault test CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem

mkdir -p ca.db
: > ca.db/index.txt
echo 1000 > ca.db/serial
cat > ca.cnf <<'CNF'
[ca]
default_ca = test_ca
[test_ca]
dir = ./ca.db
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir
certificate = ./ca.pem
private_key = ./ca.key
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
email_in_dn = no
[any]
commonName = supplied
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $ENV::SAN
CNF

# sign NAME CN SAN STARTDATE ENDDATE
sign() {
  ossl ecparam -name prime256v1 -genkey -noout -out "$1.key"
  ossl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
  SAN=$3 ossl ca -batch -config ca.cnf -extensions server -notext \
    -startdate "$4" -enddate "$5" -in "$1.csr" -out "$1.pem"
  rm -f "$1.csr"
}
now=$(date -u -d '-1 hour' +%Y%m%d%H%M%SZ)
later=$(date -u -d '+2 days' +%Y%m%d%H%M%SZ)
sign good localhost "DNS:localhost,IP:127.0.0.1,IP:::1" "$now" "$later"
sign expired localhost "DNS:localhost,IP:127.0.0.1,IP:::1" \
  20200101000000Z 20200102000000Z
sign wrongname wrong.example.test "DNS:wrong.example.test" "$now" "$later"

ossl ecparam -name prime256v1 -genkey -noout -out selfsigned.key
ossl req -x509 -new -key selfsigned.key -sha256 -days 2 -subj "/CN=localhost" \
  -addext "basicConstraints=critical,CA:FALSE" \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" -out selfsigned.pem
chmod 644 ./*.pem ./*.key
