# The tenant's OpenBao: on the stack's internal network only, plain HTTP there.
storage "raft" {
  path    = "/openbao/data"
  node_id = "vault"
}
listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = true
}
# Unsealed at every start from the key scripts/new-tenant generated (a Docker secret).
seal "static" {
  current_key_id = "tenant-1"
  current_key    = "file:///run/secrets/vault_unseal_key"
}
api_addr     = "http://vault:8200"
cluster_addr = "http://vault:8201"
ui           = false
