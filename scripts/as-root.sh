# Sourced by the install scripts: sets the array `sudo` to what runs a command
# as root here: nothing as root, (sudo) where sudo works without a password or
# can ask for one at this terminal. Elsewhere prints the lines given and exits 1.
#   . scripts/as-root.sh "what failed" "what to do"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
    sudo=(sudo)
  else
    printf 'rnnkit: %s\n' "$@" >&2
    exit 1
  fi
fi
