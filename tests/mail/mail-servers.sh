#!/usr/bin/env bash
# Starts (or stops) a throwaway Postfix (SMTP) and Dovecot (IMAP + LMTP) bound to loopback, for
# the tests and the benchmarks. Mail for the domain opendmp.test goes Postfix -> LMTP -> Dovecot
# maildir; any local part is a mailbox (created on first delivery), every mailbox opens over IMAP
# with the password in DIR/dovecot/password (loopback test servers only: Dovecot re-reads a
# passwd-file at most every few seconds, too slow for tests that create mailboxes on the fly).
# Mail for absent.opendmp.test is refused by Postfix itself (a bounce, for delivery-status tests).
# Both offer STARTTLS with a self-signed certificate, DIR/tls.crt.
#   mail-servers.sh start DIR SMTP_PORT IMAP_PORT
#   mail-servers.sh stop DIR
# Needs root (Postfix and Dovecot drop privileges themselves) and the Debian packages postfix,
# dovecot-imapd and dovecot-lmtpd (the test command installs them).
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?directory}

stop() {
  if [ -f "$dir/postfix/main.cf" ]; then postfix -c "$dir/postfix" stop >/dev/null 2>&1 || true; fi
  if [ -f "$dir/dovecot/dovecot.conf" ]; then doveadm -c "$dir/dovecot/dovecot.conf" stop >/dev/null 2>&1 || true; fi
  if [ -f /etc/postfix/main.cf ]; then
    # Forget this instance in the default configuration's list of alternate directories.
    (
      flock 9
      current=$(postconf -h alternate_config_directories 2>/dev/null || true)
      kept=$(tr ', ' '\n\n' <<<"$current" | grep -v -x -F "$dir/postfix" | grep -v '^$' | paste -sd' ' || true)
      postconf -e "alternate_config_directories = $kept"
    ) 9>/etc/postfix/.opendmp-test.lock
  fi
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop DIR [SMTP_PORT IMAP_PORT]" >&2; exit 2; }
smtp=${3:?smtp port}
imap=${4:?imap port}

command -v postfix >/dev/null || { echo "postfix is not installed (Debian package postfix)" >&2; exit 2; }
command -v dovecot >/dev/null || { echo "dovecot is not installed (Debian packages dovecot-imapd dovecot-lmtpd)" >&2; exit 2; }

mkdir -p "$dir/postfix" "$dir/dovecot/run" "$dir/dovecot/state" "$dir/mail"
chmod 755 "$dir" "$dir/dovecot" "$dir/dovecot/run"
# A certificate for STARTTLS on both servers (127.0.0.1), self-signed: clients trust it explicitly.
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=127.0.0.1/O=OpenDMP test mail" \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout "$dir/tls.key" -out "$dir/tls.crt" >/dev/null 2>&1
chmod 644 "$dir/tls.crt" "$dir/tls.key"
password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s' "$password" >"$dir/dovecot/password"
chown -R mail:mail "$dir/mail"

# Dovecot: IMAP on loopback, LMTP on a unix socket Postfix can reach, maildir per mailbox.
cat >"$dir/dovecot/dovecot.conf" <<CONF
base_dir = $dir/dovecot/run
state_dir = $dir/dovecot/state
instance_name = opendmp-$imap
protocols = imap lmtp
listen = 127.0.0.1
ssl = yes
ssl_cert = <$dir/tls.crt
ssl_key = <$dir/tls.key
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = $dir/dovecot/dovecot.log
first_valid_uid = 1
mail_location = maildir:$dir/mail/%n
mail_uid = mail
mail_gid = mail
mail_fsync = always
lmtp_save_to_detail_mailbox = no
recipient_delimiter =
passdb {
  driver = static
  args = password=$password
}
userdb {
  driver = static
  args = uid=mail gid=mail home=$dir/mail/%n allow_all_users=yes
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $imap
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
protocol lmtp {
  auth_username_format = %n
}
namespace inbox {
  inbox = yes
  separator = /
}
CONF
dovecot -c "$dir/dovecot/dovecot.conf"

# Postfix: smtpd on 127.0.0.1:SMTP_PORT, everything for opendmp.test delivered over LMTP.
cat >"$dir/postfix/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = $dir/postfix/queue
data_directory = $dir/postfix/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mail.opendmp.test
mydomain = opendmp.test
myorigin = opendmp.test
mydestination =
mynetworks = 127.0.0.0/8
relay_domains =
virtual_mailbox_domains = opendmp.test
virtual_transport = lmtp:unix:$dir/dovecot/run/lmtp
smtpd_reject_unlisted_recipient = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
local_recipient_maps =
append_dot_mydomain = no
biff = no
message_size_limit = 52428800
maillog_file = $dir/postfix/maillog
maillog_file_prefixes = $dir
lmtp_destination_concurrency_limit = 8
transport_maps = inline:{absent.opendmp.test=error:mailbox_unavailable}
smtpd_tls_security_level = may
smtpd_tls_cert_file = $dir/tls.crt
smtpd_tls_key_file = $dir/tls.key
CONF
{
  echo "127.0.0.1:$smtp inet n - n - - smtpd"
  # The distribution's services, none chrooted, without its port-25 listener.
  grep -v '^#' /etc/postfix/master.cf | grep -v '^smtp[[:space:]]\+inet' | grep -v '^[[:space:]]*$' \
    | awk '/^[^[:space:]]/ && NF >= 8 { $5 = "n" } { print }'
} >"$dir/postfix/master.cf"
mkdir -p "$dir/postfix/data" "$dir/postfix/queue"
chown postfix:postfix "$dir/postfix/data"
(
  flock 9
  [ -f /etc/postfix/main.cf ] || printf 'compatibility_level = 3.6\nmaillog_file = /dev/null\n' >/etc/postfix/main.cf
  current=$(postconf -h alternate_config_directories 2>/dev/null || true)
  postconf -e "alternate_config_directories = $current $dir/postfix"
) 9>/etc/postfix/.opendmp-test.lock
postfix -c "$dir/postfix" start >/dev/null 2>"$dir/postfix/start.err" || { cat "$dir/postfix/start.err" >&2; exit 1; }
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$smtp") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$imap") 2>/dev/null; then exit 0; fi
  sleep 0.1
done
echo "mail servers did not start listening on $smtp/$imap; see $dir/postfix/maillog and $dir/dovecot/dovecot.log" >&2
exit 1
