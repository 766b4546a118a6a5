# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_burrow_global_optspecs
    string join \n h/help V/version
end

function __fish_burrow_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_burrow_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_burrow_using_subcommand
    set -l cmd (__fish_burrow_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c burrow -n "__fish_burrow_needs_command" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_needs_command" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "run" -d 'Run a command in a new container'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "create" -d 'Create a container without starting it (every flag of run but -d)'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "ps" -d 'List containers'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "rm" -d 'Remove containers'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "port" -d 'List a container\'s published ports'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "pause" -d 'Freeze every process of running containers'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "unpause" -d 'Thaw paused containers'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "stats" -d 'Show containers\' CPU, memory, network, block I/O and process use'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "update" -d 'Change the resource limits of running containers'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "exec" -d 'Run a command in a running container'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "logs" -d 'Print a container\'s output (stdout and stderr to their own streams)'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "stop" -d 'Stop containers: the image\'s stop signal, then SIGKILL after a timeout'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "kill" -d 'Send a signal to containers'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "start" -d 'Start stopped containers again (same writable layer)'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "restart" -d 'Stop and start containers'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "wait" -d 'Wait for containers to exit; print their exit status'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "attach" -d 'Attach to a detached container\'s output (and stdin)'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "top" -d 'List the processes of a container'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "rename" -d 'Rename a container'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "cp" -d 'Copy files between a container (CONTAINER:PATH) and the host'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "diff" -d 'List what a container changed: A added, C changed, D deleted'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "export" -d 'Write a container\'s filesystem as a tarball'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "commit" -d 'Make an image of a container\'s changes on top of its image'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "build" -d 'Build an image from a Containerfile (or Dockerfile) and a context directory'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "images" -d 'List images'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "import" -d 'Import a root filesystem tarball (plain, gzip or zstd) as an image'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "load" -d 'Load images from a docker-archive or an OCI layout (directory or tar)'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "save" -d 'Save images to a docker-archive or an OCI layout'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "rmi" -d 'Remove images'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "tag" -d 'Give an image another name'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "inspect" -d 'Show low-level information on containers or images, as JSON'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "pull" -d 'Pull an image from a registry'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "push" -d 'Push an image to a registry'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "login" -d 'Log in to a registry'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "logout" -d 'Log out of a registry'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "container" -d 'Manage containers (the container verbs under one name)'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "image" -d 'Manage images'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "system" -d 'Manage burrow\'s storage'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "doctor" -d 'Check this host for what rootless containers need; print each fix'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "info" -d 'Show what burrow found on this host'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "version" -d 'Show burrow\'s version'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "history" -d 'Show an image\'s build steps, newest first'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "events" -d 'Show what happened to containers and images'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "healthcheck" -d 'Run containers\' health checks'
complete -c burrow -n "__fish_burrow_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c burrow -n "__fish_burrow_using_subcommand run" -s l -l label -d 'Set a label: KEY=VALUE (or KEY, empty)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l label-file -d 'Read labels from a file of KEY=VALUE lines (# starts a comment)' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand run" -l stop-signal -d 'The signal `stop` sends first (default: the image\'s StopSignal, else SIGTERM)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l stop-timeout -d 'Seconds `stop` waits for the container after its stop signal before SIGKILL (default 10)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l pull -d 'When to pull the image: missing (default), always, never, newer' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l cidfile -d 'Write the container\'s id to this file (which must not exist)' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand run" -l group-add -d 'Another supplementary group for the container\'s process: a gid, or a name in the image\'s /etc/group' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l ulimit -d 'A resource limit: NAME=SOFT[:HARD] (nofile, nproc, core, stack, memlock, ...; -1 is unlimited)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l shm-size -d 'The size of /dev/shm (64m by default)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l sysctl -d 'A namespaced sysctl: net.* (with a network of its own), kernel.shm*/msg*/sem, fs.mqueue.*' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l log-driver -d 'Where output goes: k8s-file (default), json-file (the same log), none, passthrough (your own stdio)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l log-opt -d 'A log option: max-size=SIZE, max-file=N' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l detach-keys -d 'The keys that detach `attach` and `start -a` from the container\'s terminal (ctrl-p,ctrl-q by default)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l restart -d 'Restart policy while the supervisor lives: no, on-failure[:N], always' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l name -d 'Name the container' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -s e -l env -d 'Set an environment variable (NAME=VALUE, or NAME to pass yours on)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l env-file -d 'Read environment variables from a file of NAME=VALUE lines' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand run" -s w -l workdir -d 'Working directory inside the container' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -s u -l user -d 'Run as this user: name, uid, or uid:gid (from the image\'s /etc/passwd and /etc/group)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l entrypoint -d 'Override the image\'s entrypoint ("" clears it)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -s v -l volume -d 'Bind a host path: HOST:CONTAINER[:ro]' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l mount -d 'A mount: type=bind,source=...,target=...[,readonly] or type=tmpfs,target=...[,tmpfs-size=...]' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l tmpfs -d 'A tmpfs: PATH[:size=...]' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -s H -l hostname -d 'The container\'s hostname (default: the first 12 digits of its id)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l userns -d 'User namespace mode: keep-id maps your uid and gid inside to yours outside' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l security-opt -d 'Security options: no-new-privileges, seccomp=unconfined, seccomp=PROFILE.json (docker\'s format)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l cap-add -d 'Add a capability (or ALL)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l cap-drop -d 'Drop a capability (or ALL)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l network -d 'Network: user (burrow\'s own NAT to the host\'s networks), none (loopback only), host (no isolation), container:NAME (share NAME\'s)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -s p -l publish -d 'Publish a container port: [IP:]HOSTPORT:CTRPORT[/tcp|udp], ports may be ranges' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l dns -d 'A DNS server for the container (instead of burrow\'s forwarder)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l add-host -d 'An /etc/hosts entry: NAME:IP (host-gateway names the host)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -s m -l memory -d 'Memory limit (e.g. 512m, 2g); the OOM killer stops the container beyond it' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l memory-reservation -d 'Memory the container is protected from reclaim below (memory.low)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l memory-swap -d 'Memory plus swap (e.g. 1g); -1 for unlimited swap. Default: twice --memory' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l cpus -d 'Number of CPUs the container may use (e.g. 1.5)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -s c -l cpu-shares -d 'Relative CPU weight (2-262144, default 1024)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l cpuset-cpus -d 'CPUs the container may run on (e.g. 0-3 or 0,2)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l cpuset-mems -d 'Memory nodes the container may use (e.g. 0)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l pids-limit -d 'Most processes and threads at once; -1 for unlimited' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l blkio-weight -d 'Relative block I/O weight (10-1000)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l device-read-bps -d 'Read rate limit of a disk (e.g. /dev/sda:10mb); repeatable' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l device-write-bps -d 'Write rate limit of a disk (e.g. /dev/sda:10mb); repeatable' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l health-cmd -d 'The health check\'s command, run with /bin/sh -c in the container' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l health-interval -d 'Time between health checks (a Go duration: 30s, 1m30s)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l health-retries -d 'Failures in a row that make the container unhealthy' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l health-start-period -d 'Time after the start during which failures do not count' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l health-timeout -d 'Time a health check may take before it counts as failed' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l health-on-failure -d 'What to do when the container turns unhealthy: none, kill, restart, stop' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -l oom-score-adj -d 'Adjust the OOM killer\'s preference for the container (-1000..1000; without privileges only upwards)' -r
complete -c burrow -n "__fish_burrow_using_subcommand run" -s d -l detach -d 'Run in the background under a supervisor; print the container\'s id'
complete -c burrow -n "__fish_burrow_using_subcommand run" -l rm -d 'Remove the container when it exits'
complete -c burrow -n "__fish_burrow_using_subcommand run" -s i -l interactive -d 'Keep stdin open'
complete -c burrow -n "__fish_burrow_using_subcommand run" -s t -l tty -d 'Give the container a terminal'
complete -c burrow -n "__fish_burrow_using_subcommand run" -l read-only -d 'Mount the root filesystem read-only'
complete -c burrow -n "__fish_burrow_using_subcommand run" -l init -d 'Run a small init as pid 1 that reaps zombies and forwards signals'
complete -c burrow -n "__fish_burrow_using_subcommand run" -l privileged -d 'Every capability of the container\'s user namespace, no seccomp profile, no masked paths'
complete -c burrow -n "__fish_burrow_using_subcommand run" -s P -l publish-all -d 'Publish every port the image exposes on a random host port'
complete -c burrow -n "__fish_burrow_using_subcommand run" -l no-healthcheck -d 'Run no health check, whatever the image says'
complete -c burrow -n "__fish_burrow_using_subcommand run" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand run" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand create" -s l -l label -d 'Set a label: KEY=VALUE (or KEY, empty)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l label-file -d 'Read labels from a file of KEY=VALUE lines (# starts a comment)' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand create" -l stop-signal -d 'The signal `stop` sends first (default: the image\'s StopSignal, else SIGTERM)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l stop-timeout -d 'Seconds `stop` waits for the container after its stop signal before SIGKILL (default 10)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l pull -d 'When to pull the image: missing (default), always, never, newer' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l cidfile -d 'Write the container\'s id to this file (which must not exist)' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand create" -l group-add -d 'Another supplementary group for the container\'s process: a gid, or a name in the image\'s /etc/group' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l ulimit -d 'A resource limit: NAME=SOFT[:HARD] (nofile, nproc, core, stack, memlock, ...; -1 is unlimited)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l shm-size -d 'The size of /dev/shm (64m by default)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l sysctl -d 'A namespaced sysctl: net.* (with a network of its own), kernel.shm*/msg*/sem, fs.mqueue.*' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l log-driver -d 'Where output goes: k8s-file (default), json-file (the same log), none, passthrough (your own stdio)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l log-opt -d 'A log option: max-size=SIZE, max-file=N' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l detach-keys -d 'The keys that detach `attach` and `start -a` from the container\'s terminal (ctrl-p,ctrl-q by default)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l restart -d 'Restart policy while the supervisor lives: no, on-failure[:N], always' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l name -d 'Name the container' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -s e -l env -d 'Set an environment variable (NAME=VALUE, or NAME to pass yours on)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l env-file -d 'Read environment variables from a file of NAME=VALUE lines' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand create" -s w -l workdir -d 'Working directory inside the container' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -s u -l user -d 'Run as this user: name, uid, or uid:gid (from the image\'s /etc/passwd and /etc/group)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l entrypoint -d 'Override the image\'s entrypoint ("" clears it)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -s v -l volume -d 'Bind a host path: HOST:CONTAINER[:ro]' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l mount -d 'A mount: type=bind,source=...,target=...[,readonly] or type=tmpfs,target=...[,tmpfs-size=...]' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l tmpfs -d 'A tmpfs: PATH[:size=...]' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -s H -l hostname -d 'The container\'s hostname (default: the first 12 digits of its id)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l userns -d 'User namespace mode: keep-id maps your uid and gid inside to yours outside' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l security-opt -d 'Security options: no-new-privileges, seccomp=unconfined, seccomp=PROFILE.json (docker\'s format)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l cap-add -d 'Add a capability (or ALL)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l cap-drop -d 'Drop a capability (or ALL)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l network -d 'Network: user (burrow\'s own NAT to the host\'s networks), none (loopback only), host (no isolation), container:NAME (share NAME\'s)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -s p -l publish -d 'Publish a container port: [IP:]HOSTPORT:CTRPORT[/tcp|udp], ports may be ranges' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l dns -d 'A DNS server for the container (instead of burrow\'s forwarder)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l add-host -d 'An /etc/hosts entry: NAME:IP (host-gateway names the host)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -s m -l memory -d 'Memory limit (e.g. 512m, 2g); the OOM killer stops the container beyond it' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l memory-reservation -d 'Memory the container is protected from reclaim below (memory.low)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l memory-swap -d 'Memory plus swap (e.g. 1g); -1 for unlimited swap. Default: twice --memory' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l cpus -d 'Number of CPUs the container may use (e.g. 1.5)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -s c -l cpu-shares -d 'Relative CPU weight (2-262144, default 1024)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l cpuset-cpus -d 'CPUs the container may run on (e.g. 0-3 or 0,2)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l cpuset-mems -d 'Memory nodes the container may use (e.g. 0)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l pids-limit -d 'Most processes and threads at once; -1 for unlimited' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l blkio-weight -d 'Relative block I/O weight (10-1000)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l device-read-bps -d 'Read rate limit of a disk (e.g. /dev/sda:10mb); repeatable' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l device-write-bps -d 'Write rate limit of a disk (e.g. /dev/sda:10mb); repeatable' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l health-cmd -d 'The health check\'s command, run with /bin/sh -c in the container' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l health-interval -d 'Time between health checks (a Go duration: 30s, 1m30s)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l health-retries -d 'Failures in a row that make the container unhealthy' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l health-start-period -d 'Time after the start during which failures do not count' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l health-timeout -d 'Time a health check may take before it counts as failed' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l health-on-failure -d 'What to do when the container turns unhealthy: none, kill, restart, stop' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l oom-score-adj -d 'Adjust the OOM killer\'s preference for the container (-1000..1000; without privileges only upwards)' -r
complete -c burrow -n "__fish_burrow_using_subcommand create" -l rm -d 'Remove the container when it exits'
complete -c burrow -n "__fish_burrow_using_subcommand create" -s i -l interactive -d 'Keep stdin open'
complete -c burrow -n "__fish_burrow_using_subcommand create" -s t -l tty -d 'Give the container a terminal'
complete -c burrow -n "__fish_burrow_using_subcommand create" -l read-only -d 'Mount the root filesystem read-only'
complete -c burrow -n "__fish_burrow_using_subcommand create" -l init -d 'Run a small init as pid 1 that reaps zombies and forwards signals'
complete -c burrow -n "__fish_burrow_using_subcommand create" -l privileged -d 'Every capability of the container\'s user namespace, no seccomp profile, no masked paths'
complete -c burrow -n "__fish_burrow_using_subcommand create" -s P -l publish-all -d 'Publish every port the image exposes on a random host port'
complete -c burrow -n "__fish_burrow_using_subcommand create" -l no-healthcheck -d 'Run no health check, whatever the image says'
complete -c burrow -n "__fish_burrow_using_subcommand create" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand create" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand ps" -s n -l last -d 'Show the N last created containers (of every state)' -r
complete -c burrow -n "__fish_burrow_using_subcommand ps" -s f -l filter -d 'Only containers that match: id, name, label, status, ancestor, exited, before, since (KEY=VALUE)' -r
complete -c burrow -n "__fish_burrow_using_subcommand ps" -l format -d 'Output format: table, json, or a Go template (`{{.Names}}`, `table {{.ID}}\\t{{.Status}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand ps" -s a -l all -d 'Show all containers, not only running ones'
complete -c burrow -n "__fish_burrow_using_subcommand ps" -s q -l quiet -d 'Show only ids'
complete -c burrow -n "__fish_burrow_using_subcommand ps" -l no-trunc -d 'Show full ids'
complete -c burrow -n "__fish_burrow_using_subcommand ps" -s l -l latest -d 'Show the latest created container (of every state)'
complete -c burrow -n "__fish_burrow_using_subcommand ps" -s s -l size -d 'Show the size of each container\'s writable layer (and its image\'s)'
complete -c burrow -n "__fish_burrow_using_subcommand ps" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand ps" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand rm" -s f -l force -d 'Stop (SIGKILL) a running container first'
complete -c burrow -n "__fish_burrow_using_subcommand rm" -s a -l all -d 'Remove every container (running ones only with -f)'
complete -c burrow -n "__fish_burrow_using_subcommand rm" -s v -l volumes -d 'Remove the container\'s anonymous volumes too'
complete -c burrow -n "__fish_burrow_using_subcommand rm" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand rm" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand port" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand port" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand pause" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand pause" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand unpause" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand unpause" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand stats" -l format -d 'Output format: table, json, or a Go template (`{{.Names}}`, `table {{.ID}}\\t{{.Status}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand stats" -l no-stream -d 'Print one sample and exit'
complete -c burrow -n "__fish_burrow_using_subcommand stats" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand stats" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand update" -s m -l memory -d 'Memory limit (e.g. 512m, 2g); the OOM killer stops the container beyond it' -r
complete -c burrow -n "__fish_burrow_using_subcommand update" -l memory-reservation -d 'Memory the container is protected from reclaim below (memory.low)' -r
complete -c burrow -n "__fish_burrow_using_subcommand update" -l memory-swap -d 'Memory plus swap (e.g. 1g); -1 for unlimited swap. Default: twice --memory' -r
complete -c burrow -n "__fish_burrow_using_subcommand update" -l cpus -d 'Number of CPUs the container may use (e.g. 1.5)' -r
complete -c burrow -n "__fish_burrow_using_subcommand update" -s c -l cpu-shares -d 'Relative CPU weight (2-262144, default 1024)' -r
complete -c burrow -n "__fish_burrow_using_subcommand update" -l cpuset-cpus -d 'CPUs the container may run on (e.g. 0-3 or 0,2)' -r
complete -c burrow -n "__fish_burrow_using_subcommand update" -l cpuset-mems -d 'Memory nodes the container may use (e.g. 0)' -r
complete -c burrow -n "__fish_burrow_using_subcommand update" -l pids-limit -d 'Most processes and threads at once; -1 for unlimited' -r
complete -c burrow -n "__fish_burrow_using_subcommand update" -l blkio-weight -d 'Relative block I/O weight (10-1000)' -r
complete -c burrow -n "__fish_burrow_using_subcommand update" -l device-read-bps -d 'Read rate limit of a disk (e.g. /dev/sda:10mb); repeatable' -r
complete -c burrow -n "__fish_burrow_using_subcommand update" -l device-write-bps -d 'Write rate limit of a disk (e.g. /dev/sda:10mb); repeatable' -r
complete -c burrow -n "__fish_burrow_using_subcommand update" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand update" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand exec" -s e -l env -d 'Set an environment variable (NAME=VALUE, or NAME to pass yours on)' -r
complete -c burrow -n "__fish_burrow_using_subcommand exec" -s w -l workdir -d 'Working directory inside the container' -r
complete -c burrow -n "__fish_burrow_using_subcommand exec" -s u -l user -d 'Run as this user: name, uid, or uid:gid' -r
complete -c burrow -n "__fish_burrow_using_subcommand exec" -s i -l interactive -d 'Keep stdin open'
complete -c burrow -n "__fish_burrow_using_subcommand exec" -s t -l tty -d 'Give the command a terminal'
complete -c burrow -n "__fish_burrow_using_subcommand exec" -s d -l detach -d 'Run in the background; print nothing'
complete -c burrow -n "__fish_burrow_using_subcommand exec" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand exec" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand logs" -s n -l tail -d 'Only the last N lines' -r
complete -c burrow -n "__fish_burrow_using_subcommand logs" -l since -d 'Only output since TIME (RFC 3339, seconds since the epoch, or 10s, 5m, 2h ago)' -r
complete -c burrow -n "__fish_burrow_using_subcommand logs" -s f -l follow -d 'Keep printing new output until the container exits'
complete -c burrow -n "__fish_burrow_using_subcommand logs" -s t -l timestamps -d 'Prefix each line with its time'
complete -c burrow -n "__fish_burrow_using_subcommand logs" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand logs" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand stop" -s t -l time -l timeout -d 'Seconds to wait after the stop signal before SIGKILL' -r
complete -c burrow -n "__fish_burrow_using_subcommand stop" -s a -l all -d 'Stop every running container'
complete -c burrow -n "__fish_burrow_using_subcommand stop" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand stop" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand kill" -s s -l signal -d 'The signal, by name or number' -r
complete -c burrow -n "__fish_burrow_using_subcommand kill" -s a -l all -d 'Signal every running container'
complete -c burrow -n "__fish_burrow_using_subcommand kill" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand kill" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand start" -l detach-keys -d 'The keys that detach from the container\'s terminal (ctrl-p,ctrl-q by default)' -r
complete -c burrow -n "__fish_burrow_using_subcommand start" -s a -l attach -d 'Attach to the container\'s output and wait for it to exit'
complete -c burrow -n "__fish_burrow_using_subcommand start" -s i -l interactive -d 'Pass stdin on (attached)'
complete -c burrow -n "__fish_burrow_using_subcommand start" -l all -d 'Start every container that is not running'
complete -c burrow -n "__fish_burrow_using_subcommand start" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand start" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand restart" -s t -l time -d 'Seconds to wait after the stop signal before SIGKILL' -r
complete -c burrow -n "__fish_burrow_using_subcommand restart" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand restart" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand wait" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand wait" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand attach" -l detach-keys -d 'The keys that detach from the container\'s terminal (ctrl-p,ctrl-q by default)' -r
complete -c burrow -n "__fish_burrow_using_subcommand attach" -l no-stdin -d 'Do not pass stdin on'
complete -c burrow -n "__fish_burrow_using_subcommand attach" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand attach" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand top" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand top" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand rename" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand rename" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand cp" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand cp" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand diff" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand diff" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand export" -s o -l output -d 'Write the tarball to this file (default: standard output, when it is not a terminal)' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand export" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand export" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand commit" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand commit" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand build" -s t -l tag -d 'Name the image (NAME[:TAG]); may be given more than once' -r
complete -c burrow -n "__fish_burrow_using_subcommand build" -s f -l file -d 'The Containerfile (`-` reads it from stdin); default: Containerfile, else Dockerfile, in the context' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand build" -l build-arg -d 'Set a build argument (KEY=VALUE; KEY alone takes your environment\'s value)' -r
complete -c burrow -n "__fish_burrow_using_subcommand build" -l target -d 'Build only this stage and the stages it needs' -r
complete -c burrow -n "__fish_burrow_using_subcommand build" -l label -d 'Add a label to the image (KEY=VALUE)' -r
complete -c burrow -n "__fish_burrow_using_subcommand build" -l iidfile -d 'Write the image id to this file' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand build" -l secret -d 'A secret for RUN --mount=type=secret (id=ID,src=PATH or id=ID,env=VAR); it is never written to the image' -r
complete -c burrow -n "__fish_burrow_using_subcommand build" -l pull -d 'When to pull FROM images: always, missing (the default) or never; `--pull` alone is always' -r -f -a "always\t''
missing\t''
never\t''"
complete -c burrow -n "__fish_burrow_using_subcommand build" -l network -d 'The network of RUN steps: user (the default), none or host' -r -f -a "user\t''
none\t''
host\t''"
complete -c burrow -n "__fish_burrow_using_subcommand build" -l format -d 'The image\'s config format: docker (keeps HEALTHCHECK, SHELL and ONBUILD) or oci' -r -f -a "docker\t''
oci\t''"
complete -c burrow -n "__fish_burrow_using_subcommand build" -l no-cache -d 'Run every step; use no cached result'
complete -c burrow -n "__fish_burrow_using_subcommand build" -l squash -d 'Merge the layers the build makes into one (the base image\'s stay)'
complete -c burrow -n "__fish_burrow_using_subcommand build" -s q -l quiet -d 'Print only the image id'
complete -c burrow -n "__fish_burrow_using_subcommand build" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand build" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand images" -l format -d 'Output format: table, json, or a Go template (`{{.Names}}`, `table {{.ID}}\\t{{.Status}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand images" -s q -l quiet -d 'Show only image ids'
complete -c burrow -n "__fish_burrow_using_subcommand images" -l digests -d 'Show manifest digests'
complete -c burrow -n "__fish_burrow_using_subcommand images" -l no-trunc -d 'Show full image ids'
complete -c burrow -n "__fish_burrow_using_subcommand images" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand images" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand import" -s m -l message -d 'A comment recorded in the image\'s history' -r
complete -c burrow -n "__fish_burrow_using_subcommand import" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand import" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand load" -s i -l input -d 'docker-archive tar, OCI layout directory, or OCI layout tar (default: standard input)' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand load" -s q -l quiet -d 'Print nothing but errors'
complete -c burrow -n "__fish_burrow_using_subcommand load" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand load" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand save" -s o -l output -d 'Where to write (a file, or a directory for oci-dir); default: standard output, when it is not a terminal' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand save" -l format -d 'Archive format' -r -f -a "docker-archive\t''
oci-archive\t''
oci-dir\t''"
complete -c burrow -n "__fish_burrow_using_subcommand save" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand save" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand rmi" -s f -l force -d 'Remove an image by id even when it has several names'
complete -c burrow -n "__fish_burrow_using_subcommand rmi" -s a -l all -d 'Remove every image'
complete -c burrow -n "__fish_burrow_using_subcommand rmi" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand rmi" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand tag" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand tag" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand inspect" -s f -l format -d 'Output format: json, or a Go template run on each object (`{{.State.Status}}`, `{{json .Config}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand inspect" -l type -d 'Only look for this kind of object' -r -f -a "container\t''
image\t''"
complete -c burrow -n "__fish_burrow_using_subcommand inspect" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand inspect" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand pull" -l platform -d 'Pull the image for this platform instead of this machine\'s: OS/ARCH[/VARIANT]' -r
complete -c burrow -n "__fish_burrow_using_subcommand pull" -l tls-verify -d 'Check the registry\'s TLS certificate (--tls-verify=false also allows plain HTTP)' -r -f -a "true\t''
false\t''"
complete -c burrow -n "__fish_burrow_using_subcommand pull" -s q -l quiet -d 'Print no progress (the image id is still printed)'
complete -c burrow -n "__fish_burrow_using_subcommand pull" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand pull" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand push" -l tls-verify -d 'Check the registry\'s TLS certificate (--tls-verify=false also allows plain HTTP)' -r -f -a "true\t''
false\t''"
complete -c burrow -n "__fish_burrow_using_subcommand push" -s q -l quiet -d 'Print no progress'
complete -c burrow -n "__fish_burrow_using_subcommand push" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand push" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand login" -s u -l username -d 'User name (asked for when not given)' -r
complete -c burrow -n "__fish_burrow_using_subcommand login" -s p -l password -d 'Password (visible to other users in the process list; prefer --password-stdin)' -r
complete -c burrow -n "__fish_burrow_using_subcommand login" -l tls-verify -d 'Check the registry\'s TLS certificate (--tls-verify=false also allows plain HTTP)' -r -f -a "true\t''
false\t''"
complete -c burrow -n "__fish_burrow_using_subcommand login" -l password-stdin -d 'Read the password from standard input'
complete -c burrow -n "__fish_burrow_using_subcommand login" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand login" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand logout" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand logout" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "attach" -d 'Attach to a detached container\'s output (and stdin)'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "commit" -d 'Make an image of a container\'s changes on top of its image'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "cp" -d 'Copy files between a container (CONTAINER:PATH) and the host'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "create" -d 'Create a container without starting it'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "diff" -d 'List what a container changed'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "exec" -d 'Run a command in a running container'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "export" -d 'Write a container\'s filesystem as a tarball'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "inspect" -d 'Show low-level information on containers, as JSON'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "kill" -d 'Send a signal to containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "logs" -d 'Print a container\'s output'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "ls" -d 'List containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "list" -d 'List containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "ps" -d 'List containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "pause" -d 'Freeze every process of running containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "port" -d 'List a container\'s published ports'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "rename" -d 'Rename a container'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "restart" -d 'Stop and start containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "rm" -d 'Remove containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "remove" -d 'Remove containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "run" -d 'Run a command in a new container'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "start" -d 'Start stopped containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "stats" -d 'Show containers\' resource use'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "stop" -d 'Stop containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "top" -d 'List the processes of a container'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "unpause" -d 'Thaw paused containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "update" -d 'Change the resource limits of running containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "wait" -d 'Wait for containers to exit; print their exit status'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "exists" -d 'Exit 0 when a container exists, 1 when it does not'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "prune" -d 'Remove every container that is not running'
complete -c burrow -n "__fish_burrow_using_subcommand container; and not __fish_seen_subcommand_from attach commit cp create diff exec export inspect kill logs ls list ps pause port rename restart rm remove run start stats stop top unpause update wait exists prune help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from attach" -l detach-keys -d 'The keys that detach from the container\'s terminal (ctrl-p,ctrl-q by default)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from attach" -l no-stdin -d 'Do not pass stdin on'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from attach" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from attach" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from commit" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from commit" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from cp" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from cp" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -s l -l label -d 'Set a label: KEY=VALUE (or KEY, empty)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l label-file -d 'Read labels from a file of KEY=VALUE lines (# starts a comment)' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l stop-signal -d 'The signal `stop` sends first (default: the image\'s StopSignal, else SIGTERM)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l stop-timeout -d 'Seconds `stop` waits for the container after its stop signal before SIGKILL (default 10)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l pull -d 'When to pull the image: missing (default), always, never, newer' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l cidfile -d 'Write the container\'s id to this file (which must not exist)' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l group-add -d 'Another supplementary group for the container\'s process: a gid, or a name in the image\'s /etc/group' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l ulimit -d 'A resource limit: NAME=SOFT[:HARD] (nofile, nproc, core, stack, memlock, ...; -1 is unlimited)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l shm-size -d 'The size of /dev/shm (64m by default)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l sysctl -d 'A namespaced sysctl: net.* (with a network of its own), kernel.shm*/msg*/sem, fs.mqueue.*' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l log-driver -d 'Where output goes: k8s-file (default), json-file (the same log), none, passthrough (your own stdio)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l log-opt -d 'A log option: max-size=SIZE, max-file=N' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l detach-keys -d 'The keys that detach `attach` and `start -a` from the container\'s terminal (ctrl-p,ctrl-q by default)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l restart -d 'Restart policy while the supervisor lives: no, on-failure[:N], always' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l name -d 'Name the container' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -s e -l env -d 'Set an environment variable (NAME=VALUE, or NAME to pass yours on)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l env-file -d 'Read environment variables from a file of NAME=VALUE lines' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -s w -l workdir -d 'Working directory inside the container' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -s u -l user -d 'Run as this user: name, uid, or uid:gid (from the image\'s /etc/passwd and /etc/group)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l entrypoint -d 'Override the image\'s entrypoint ("" clears it)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -s v -l volume -d 'Bind a host path: HOST:CONTAINER[:ro]' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l mount -d 'A mount: type=bind,source=...,target=...[,readonly] or type=tmpfs,target=...[,tmpfs-size=...]' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l tmpfs -d 'A tmpfs: PATH[:size=...]' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -s H -l hostname -d 'The container\'s hostname (default: the first 12 digits of its id)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l userns -d 'User namespace mode: keep-id maps your uid and gid inside to yours outside' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l security-opt -d 'Security options: no-new-privileges, seccomp=unconfined, seccomp=PROFILE.json (docker\'s format)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l cap-add -d 'Add a capability (or ALL)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l cap-drop -d 'Drop a capability (or ALL)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l network -d 'Network: user (burrow\'s own NAT to the host\'s networks), none (loopback only), host (no isolation), container:NAME (share NAME\'s)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -s p -l publish -d 'Publish a container port: [IP:]HOSTPORT:CTRPORT[/tcp|udp], ports may be ranges' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l dns -d 'A DNS server for the container (instead of burrow\'s forwarder)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l add-host -d 'An /etc/hosts entry: NAME:IP (host-gateway names the host)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -s m -l memory -d 'Memory limit (e.g. 512m, 2g); the OOM killer stops the container beyond it' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l memory-reservation -d 'Memory the container is protected from reclaim below (memory.low)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l memory-swap -d 'Memory plus swap (e.g. 1g); -1 for unlimited swap. Default: twice --memory' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l cpus -d 'Number of CPUs the container may use (e.g. 1.5)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -s c -l cpu-shares -d 'Relative CPU weight (2-262144, default 1024)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l cpuset-cpus -d 'CPUs the container may run on (e.g. 0-3 or 0,2)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l cpuset-mems -d 'Memory nodes the container may use (e.g. 0)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l pids-limit -d 'Most processes and threads at once; -1 for unlimited' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l blkio-weight -d 'Relative block I/O weight (10-1000)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l device-read-bps -d 'Read rate limit of a disk (e.g. /dev/sda:10mb); repeatable' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l device-write-bps -d 'Write rate limit of a disk (e.g. /dev/sda:10mb); repeatable' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l health-cmd -d 'The health check\'s command, run with /bin/sh -c in the container' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l health-interval -d 'Time between health checks (a Go duration: 30s, 1m30s)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l health-retries -d 'Failures in a row that make the container unhealthy' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l health-start-period -d 'Time after the start during which failures do not count' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l health-timeout -d 'Time a health check may take before it counts as failed' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l health-on-failure -d 'What to do when the container turns unhealthy: none, kill, restart, stop' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l oom-score-adj -d 'Adjust the OOM killer\'s preference for the container (-1000..1000; without privileges only upwards)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l rm -d 'Remove the container when it exits'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -s i -l interactive -d 'Keep stdin open'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -s t -l tty -d 'Give the container a terminal'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l read-only -d 'Mount the root filesystem read-only'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l init -d 'Run a small init as pid 1 that reaps zombies and forwards signals'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l privileged -d 'Every capability of the container\'s user namespace, no seccomp profile, no masked paths'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -s P -l publish-all -d 'Publish every port the image exposes on a random host port'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -l no-healthcheck -d 'Run no health check, whatever the image says'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from create" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from diff" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from diff" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from exec" -s e -l env -d 'Set an environment variable (NAME=VALUE, or NAME to pass yours on)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from exec" -s w -l workdir -d 'Working directory inside the container' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from exec" -s u -l user -d 'Run as this user: name, uid, or uid:gid' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from exec" -s i -l interactive -d 'Keep stdin open'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from exec" -s t -l tty -d 'Give the command a terminal'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from exec" -s d -l detach -d 'Run in the background; print nothing'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from exec" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from exec" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from export" -s o -l output -d 'Write the tarball to this file (default: standard output, when it is not a terminal)' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from export" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from inspect" -s f -l format -d 'Output format: json, or a Go template (`{{.State.Status}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from inspect" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from inspect" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from kill" -s s -l signal -d 'The signal, by name or number' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from kill" -s a -l all -d 'Signal every running container'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from kill" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from kill" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from logs" -s n -l tail -d 'Only the last N lines' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from logs" -l since -d 'Only output since TIME (RFC 3339, seconds since the epoch, or 10s, 5m, 2h ago)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from logs" -s f -l follow -d 'Keep printing new output until the container exits'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from logs" -s t -l timestamps -d 'Prefix each line with its time'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from logs" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from logs" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ls" -s n -l last -d 'Show the N last created containers (of every state)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ls" -s f -l filter -d 'Only containers that match: id, name, label, status, ancestor, exited, before, since (KEY=VALUE)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ls" -l format -d 'Output format: table, json, or a Go template (`{{.Names}}`, `table {{.ID}}\\t{{.Status}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ls" -s a -l all -d 'Show all containers, not only running ones'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ls" -s q -l quiet -d 'Show only ids'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ls" -l no-trunc -d 'Show full ids'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ls" -s l -l latest -d 'Show the latest created container (of every state)'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ls" -s s -l size -d 'Show the size of each container\'s writable layer (and its image\'s)'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ls" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from list" -s n -l last -d 'Show the N last created containers (of every state)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from list" -s f -l filter -d 'Only containers that match: id, name, label, status, ancestor, exited, before, since (KEY=VALUE)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from list" -l format -d 'Output format: table, json, or a Go template (`{{.Names}}`, `table {{.ID}}\\t{{.Status}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from list" -s a -l all -d 'Show all containers, not only running ones'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Show only ids'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from list" -l no-trunc -d 'Show full ids'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from list" -s l -l latest -d 'Show the latest created container (of every state)'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from list" -s s -l size -d 'Show the size of each container\'s writable layer (and its image\'s)'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ps" -s n -l last -d 'Show the N last created containers (of every state)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ps" -s f -l filter -d 'Only containers that match: id, name, label, status, ancestor, exited, before, since (KEY=VALUE)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ps" -l format -d 'Output format: table, json, or a Go template (`{{.Names}}`, `table {{.ID}}\\t{{.Status}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ps" -s a -l all -d 'Show all containers, not only running ones'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ps" -s q -l quiet -d 'Show only ids'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ps" -l no-trunc -d 'Show full ids'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ps" -s l -l latest -d 'Show the latest created container (of every state)'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ps" -s s -l size -d 'Show the size of each container\'s writable layer (and its image\'s)'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ps" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from ps" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from pause" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from pause" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from port" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from port" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from rename" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from rename" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from restart" -s t -l time -d 'Seconds to wait after the stop signal before SIGKILL' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from restart" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from restart" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from rm" -s f -l force -d 'Stop (SIGKILL) a running container first'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from rm" -s a -l all -d 'Remove every container (running ones only with -f)'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from rm" -s v -l volumes -d 'Remove the container\'s anonymous volumes too'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from rm" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from remove" -s f -l force -d 'Stop (SIGKILL) a running container first'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from remove" -s a -l all -d 'Remove every container (running ones only with -f)'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from remove" -s v -l volumes -d 'Remove the container\'s anonymous volumes too'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from remove" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -s l -l label -d 'Set a label: KEY=VALUE (or KEY, empty)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l label-file -d 'Read labels from a file of KEY=VALUE lines (# starts a comment)' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l stop-signal -d 'The signal `stop` sends first (default: the image\'s StopSignal, else SIGTERM)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l stop-timeout -d 'Seconds `stop` waits for the container after its stop signal before SIGKILL (default 10)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l pull -d 'When to pull the image: missing (default), always, never, newer' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l cidfile -d 'Write the container\'s id to this file (which must not exist)' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l group-add -d 'Another supplementary group for the container\'s process: a gid, or a name in the image\'s /etc/group' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l ulimit -d 'A resource limit: NAME=SOFT[:HARD] (nofile, nproc, core, stack, memlock, ...; -1 is unlimited)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l shm-size -d 'The size of /dev/shm (64m by default)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l sysctl -d 'A namespaced sysctl: net.* (with a network of its own), kernel.shm*/msg*/sem, fs.mqueue.*' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l log-driver -d 'Where output goes: k8s-file (default), json-file (the same log), none, passthrough (your own stdio)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l log-opt -d 'A log option: max-size=SIZE, max-file=N' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l detach-keys -d 'The keys that detach `attach` and `start -a` from the container\'s terminal (ctrl-p,ctrl-q by default)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l restart -d 'Restart policy while the supervisor lives: no, on-failure[:N], always' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l name -d 'Name the container' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -s e -l env -d 'Set an environment variable (NAME=VALUE, or NAME to pass yours on)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l env-file -d 'Read environment variables from a file of NAME=VALUE lines' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -s w -l workdir -d 'Working directory inside the container' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -s u -l user -d 'Run as this user: name, uid, or uid:gid (from the image\'s /etc/passwd and /etc/group)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l entrypoint -d 'Override the image\'s entrypoint ("" clears it)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -s v -l volume -d 'Bind a host path: HOST:CONTAINER[:ro]' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l mount -d 'A mount: type=bind,source=...,target=...[,readonly] or type=tmpfs,target=...[,tmpfs-size=...]' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l tmpfs -d 'A tmpfs: PATH[:size=...]' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -s H -l hostname -d 'The container\'s hostname (default: the first 12 digits of its id)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l userns -d 'User namespace mode: keep-id maps your uid and gid inside to yours outside' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l security-opt -d 'Security options: no-new-privileges, seccomp=unconfined, seccomp=PROFILE.json (docker\'s format)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l cap-add -d 'Add a capability (or ALL)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l cap-drop -d 'Drop a capability (or ALL)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l network -d 'Network: user (burrow\'s own NAT to the host\'s networks), none (loopback only), host (no isolation), container:NAME (share NAME\'s)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -s p -l publish -d 'Publish a container port: [IP:]HOSTPORT:CTRPORT[/tcp|udp], ports may be ranges' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l dns -d 'A DNS server for the container (instead of burrow\'s forwarder)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l add-host -d 'An /etc/hosts entry: NAME:IP (host-gateway names the host)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -s m -l memory -d 'Memory limit (e.g. 512m, 2g); the OOM killer stops the container beyond it' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l memory-reservation -d 'Memory the container is protected from reclaim below (memory.low)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l memory-swap -d 'Memory plus swap (e.g. 1g); -1 for unlimited swap. Default: twice --memory' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l cpus -d 'Number of CPUs the container may use (e.g. 1.5)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -s c -l cpu-shares -d 'Relative CPU weight (2-262144, default 1024)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l cpuset-cpus -d 'CPUs the container may run on (e.g. 0-3 or 0,2)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l cpuset-mems -d 'Memory nodes the container may use (e.g. 0)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l pids-limit -d 'Most processes and threads at once; -1 for unlimited' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l blkio-weight -d 'Relative block I/O weight (10-1000)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l device-read-bps -d 'Read rate limit of a disk (e.g. /dev/sda:10mb); repeatable' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l device-write-bps -d 'Write rate limit of a disk (e.g. /dev/sda:10mb); repeatable' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l health-cmd -d 'The health check\'s command, run with /bin/sh -c in the container' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l health-interval -d 'Time between health checks (a Go duration: 30s, 1m30s)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l health-retries -d 'Failures in a row that make the container unhealthy' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l health-start-period -d 'Time after the start during which failures do not count' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l health-timeout -d 'Time a health check may take before it counts as failed' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l health-on-failure -d 'What to do when the container turns unhealthy: none, kill, restart, stop' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l oom-score-adj -d 'Adjust the OOM killer\'s preference for the container (-1000..1000; without privileges only upwards)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -s d -l detach -d 'Run in the background under a supervisor; print the container\'s id'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l rm -d 'Remove the container when it exits'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -s i -l interactive -d 'Keep stdin open'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -s t -l tty -d 'Give the container a terminal'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l read-only -d 'Mount the root filesystem read-only'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l init -d 'Run a small init as pid 1 that reaps zombies and forwards signals'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l privileged -d 'Every capability of the container\'s user namespace, no seccomp profile, no masked paths'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -s P -l publish-all -d 'Publish every port the image exposes on a random host port'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -l no-healthcheck -d 'Run no health check, whatever the image says'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from run" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from start" -l detach-keys -d 'The keys that detach from the container\'s terminal (ctrl-p,ctrl-q by default)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from start" -s a -l attach -d 'Attach to the container\'s output and wait for it to exit'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from start" -s i -l interactive -d 'Pass stdin on (attached)'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from start" -l all -d 'Start every container that is not running'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from start" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from start" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from stats" -l format -d 'Output format: table, json, or a Go template (`{{.Names}}`, `table {{.ID}}\\t{{.Status}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from stats" -l no-stream -d 'Print one sample and exit'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from stats" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from stats" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from stop" -s t -l time -l timeout -d 'Seconds to wait after the stop signal before SIGKILL' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from stop" -s a -l all -d 'Stop every running container'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from stop" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from stop" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from top" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from top" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from unpause" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from unpause" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from update" -s m -l memory -d 'Memory limit (e.g. 512m, 2g); the OOM killer stops the container beyond it' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from update" -l memory-reservation -d 'Memory the container is protected from reclaim below (memory.low)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from update" -l memory-swap -d 'Memory plus swap (e.g. 1g); -1 for unlimited swap. Default: twice --memory' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from update" -l cpus -d 'Number of CPUs the container may use (e.g. 1.5)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from update" -s c -l cpu-shares -d 'Relative CPU weight (2-262144, default 1024)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from update" -l cpuset-cpus -d 'CPUs the container may run on (e.g. 0-3 or 0,2)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from update" -l cpuset-mems -d 'Memory nodes the container may use (e.g. 0)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from update" -l pids-limit -d 'Most processes and threads at once; -1 for unlimited' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from update" -l blkio-weight -d 'Relative block I/O weight (10-1000)' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from update" -l device-read-bps -d 'Read rate limit of a disk (e.g. /dev/sda:10mb); repeatable' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from update" -l device-write-bps -d 'Write rate limit of a disk (e.g. /dev/sda:10mb); repeatable' -r
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from update" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from update" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from wait" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from wait" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from exists" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from exists" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from prune" -s f -l force -d 'Do not ask for confirmation (burrow never asks; kept for scripts written for docker)'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from prune" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "attach" -d 'Attach to a detached container\'s output (and stdin)'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "commit" -d 'Make an image of a container\'s changes on top of its image'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "cp" -d 'Copy files between a container (CONTAINER:PATH) and the host'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a container without starting it'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "diff" -d 'List what a container changed'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "exec" -d 'Run a command in a running container'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "export" -d 'Write a container\'s filesystem as a tarball'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "inspect" -d 'Show low-level information on containers, as JSON'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "kill" -d 'Send a signal to containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "logs" -d 'Print a container\'s output'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "pause" -d 'Freeze every process of running containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "port" -d 'List a container\'s published ports'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "rename" -d 'Rename a container'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "restart" -d 'Stop and start containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Remove containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "run" -d 'Run a command in a new container'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "start" -d 'Start stopped containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "stats" -d 'Show containers\' resource use'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "stop" -d 'Stop containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "top" -d 'List the processes of a container'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "unpause" -d 'Thaw paused containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "update" -d 'Change the resource limits of running containers'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "wait" -d 'Wait for containers to exit; print their exit status'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "exists" -d 'Exit 0 when a container exists, 1 when it does not'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Remove every container that is not running'
complete -c burrow -n "__fish_burrow_using_subcommand container; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -f -a "ls" -d 'List images'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -f -a "list" -d 'List images'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -f -a "rm" -d 'Remove images'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -f -a "remove" -d 'Remove images'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -f -a "build" -d 'Build an image from a Containerfile (or Dockerfile) and a context directory'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -f -a "inspect" -d 'Show low-level information on images, as JSON'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -f -a "prune" -d 'Remove images without a name (with -a, all images)'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -f -a "tag" -d 'Give an image another name'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -f -a "save" -d 'Save images to a docker-archive or an OCI layout'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -f -a "load" -d 'Load images from a docker-archive or an OCI layout'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -f -a "import" -d 'Import a root filesystem tarball as an image'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -f -a "pull" -d 'Pull an image from a registry'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -f -a "push" -d 'Push an image to a registry'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -f -a "exists" -d 'Exit 0 when an image exists, 1 when it does not'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -f -a "history" -d 'Show an image\'s build steps, newest first'
complete -c burrow -n "__fish_burrow_using_subcommand image; and not __fish_seen_subcommand_from ls list rm remove build inspect prune tag save load import pull push exists history help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from ls" -l format -d 'Output format: table, json, or a Go template (`{{.Names}}`, `table {{.ID}}\\t{{.Status}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from ls" -s q -l quiet -d 'Show only image ids'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from ls" -l digests -d 'Show manifest digests'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from ls" -l no-trunc -d 'Show full image ids'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from ls" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from list" -l format -d 'Output format: table, json, or a Go template (`{{.Names}}`, `table {{.ID}}\\t{{.Status}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Show only image ids'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from list" -l digests -d 'Show manifest digests'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from list" -l no-trunc -d 'Show full image ids'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from rm" -s f -l force -d 'Remove an image by id even when it has several names'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from rm" -s a -l all -d 'Remove every image'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from rm" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from remove" -s f -l force -d 'Remove an image by id even when it has several names'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from remove" -s a -l all -d 'Remove every image'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from remove" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from build" -s t -l tag -d 'Name the image (NAME[:TAG]); may be given more than once' -r
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from build" -s f -l file -d 'The Containerfile (`-` reads it from stdin); default: Containerfile, else Dockerfile, in the context' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from build" -l build-arg -d 'Set a build argument (KEY=VALUE; KEY alone takes your environment\'s value)' -r
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from build" -l target -d 'Build only this stage and the stages it needs' -r
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from build" -l label -d 'Add a label to the image (KEY=VALUE)' -r
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from build" -l iidfile -d 'Write the image id to this file' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from build" -l secret -d 'A secret for RUN --mount=type=secret (id=ID,src=PATH or id=ID,env=VAR); it is never written to the image' -r
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from build" -l pull -d 'When to pull FROM images: always, missing (the default) or never; `--pull` alone is always' -r -f -a "always\t''
missing\t''
never\t''"
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from build" -l network -d 'The network of RUN steps: user (the default), none or host' -r -f -a "user\t''
none\t''
host\t''"
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from build" -l format -d 'The image\'s config format: docker (keeps HEALTHCHECK, SHELL and ONBUILD) or oci' -r -f -a "docker\t''
oci\t''"
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from build" -l no-cache -d 'Run every step; use no cached result'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from build" -l squash -d 'Merge the layers the build makes into one (the base image\'s stay)'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from build" -s q -l quiet -d 'Print only the image id'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from build" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from build" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from inspect" -s f -l format -d 'Output format: json, or a Go template run on each image (`{{.Id}}`, `{{json .Config}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from inspect" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from inspect" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from prune" -s a -l all -d 'Remove all images, not only those without a name'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from prune" -s f -l force -d 'Do not ask for confirmation (burrow never asks; kept for scripts written for docker)'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from prune" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from tag" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from tag" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from save" -s o -l output -d 'Where to write (a file, or a directory for oci-dir); default: standard output, when it is not a terminal' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from save" -l format -d 'Archive format' -r -f -a "docker-archive\t''
oci-archive\t''
oci-dir\t''"
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from save" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from save" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from load" -s i -l input -d 'docker-archive tar, OCI layout directory, or OCI layout tar (default: standard input)' -r -F
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from load" -s q -l quiet -d 'Print nothing but errors'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from load" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from load" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from import" -s m -l message -d 'A comment recorded in the image\'s history' -r
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from import" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from pull" -l platform -d 'Pull the image for this platform instead of this machine\'s: OS/ARCH[/VARIANT]' -r
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from pull" -l tls-verify -d 'Check the registry\'s TLS certificate (--tls-verify=false also allows plain HTTP)' -r -f -a "true\t''
false\t''"
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from pull" -s q -l quiet -d 'Print no progress (the image id is still printed)'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from pull" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from pull" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from push" -l tls-verify -d 'Check the registry\'s TLS certificate (--tls-verify=false also allows plain HTTP)' -r -f -a "true\t''
false\t''"
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from push" -s q -l quiet -d 'Print no progress'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from push" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from push" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from exists" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from exists" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from history" -s H -l human -d 'Sizes as they are, and times as RFC 3339 (default true, as docker)' -r -f -a "true\t''
false\t''"
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from history" -l format -d 'Output format: table, json, or a Go template (`{{.CreatedBy}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from history" -l no-trunc -d 'Show sizes in bytes and the steps untruncated'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from history" -s q -l quiet -d 'Show only the ids'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from history" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from history" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List images'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Remove images'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "build" -d 'Build an image from a Containerfile (or Dockerfile) and a context directory'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "inspect" -d 'Show low-level information on images, as JSON'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Remove images without a name (with -a, all images)'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "tag" -d 'Give an image another name'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "save" -d 'Save images to a docker-archive or an OCI layout'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "load" -d 'Load images from a docker-archive or an OCI layout'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "import" -d 'Import a root filesystem tarball as an image'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "pull" -d 'Pull an image from a registry'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "push" -d 'Push an image to a registry'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "exists" -d 'Exit 0 when an image exists, 1 when it does not'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "history" -d 'Show an image\'s build steps, newest first'
complete -c burrow -n "__fish_burrow_using_subcommand image; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c burrow -n "__fish_burrow_using_subcommand system; and not __fish_seen_subcommand_from reset df prune help" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand system; and not __fish_seen_subcommand_from reset df prune help" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand system; and not __fish_seen_subcommand_from reset df prune help" -f -a "reset" -d 'Remove all images, layers and containers of this user'
complete -c burrow -n "__fish_burrow_using_subcommand system; and not __fish_seen_subcommand_from reset df prune help" -f -a "df" -d 'Show how much disk images and containers use'
complete -c burrow -n "__fish_burrow_using_subcommand system; and not __fish_seen_subcommand_from reset df prune help" -f -a "prune" -d 'Remove stopped containers and images without a name (with -a, every unused image)'
complete -c burrow -n "__fish_burrow_using_subcommand system; and not __fish_seen_subcommand_from reset df prune help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c burrow -n "__fish_burrow_using_subcommand system; and __fish_seen_subcommand_from reset" -s f -l force -d 'Do not ask for confirmation'
complete -c burrow -n "__fish_burrow_using_subcommand system; and __fish_seen_subcommand_from reset" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand system; and __fish_seen_subcommand_from reset" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand system; and __fish_seen_subcommand_from df" -l format -d 'Output format: table, json, or a Go template (`{{.Type}} {{.Size}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand system; and __fish_seen_subcommand_from df" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand system; and __fish_seen_subcommand_from df" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand system; and __fish_seen_subcommand_from prune" -s a -l all -d 'Remove every image no container uses, not only those without a name'
complete -c burrow -n "__fish_burrow_using_subcommand system; and __fish_seen_subcommand_from prune" -s f -l force -d 'Do not ask for confirmation (burrow never asks; kept for scripts written for docker)'
complete -c burrow -n "__fish_burrow_using_subcommand system; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand system; and __fish_seen_subcommand_from prune" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand system; and __fish_seen_subcommand_from help" -f -a "reset" -d 'Remove all images, layers and containers of this user'
complete -c burrow -n "__fish_burrow_using_subcommand system; and __fish_seen_subcommand_from help" -f -a "df" -d 'Show how much disk images and containers use'
complete -c burrow -n "__fish_burrow_using_subcommand system; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Remove stopped containers and images without a name (with -a, every unused image)'
complete -c burrow -n "__fish_burrow_using_subcommand system; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c burrow -n "__fish_burrow_using_subcommand doctor" -l format -d 'Output format: table, json, or a Go template (`{{.Names}}`, `table {{.ID}}\\t{{.Status}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c burrow -n "__fish_burrow_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand info" -l format -d 'Output format: table, json, or a Go template (`{{.Names}}`, `table {{.ID}}\\t{{.Status}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand info" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand info" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand version" -s f -l format -d 'Output format: table, json, or a Go template (`{{.Client.Version}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand version" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand version" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand history" -s H -l human -d 'Sizes as they are, and times as RFC 3339 (default true, as docker)' -r -f -a "true\t''
false\t''"
complete -c burrow -n "__fish_burrow_using_subcommand history" -l format -d 'Output format: table, json, or a Go template (`{{.CreatedBy}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand history" -l no-trunc -d 'Show sizes in bytes and the steps untruncated'
complete -c burrow -n "__fish_burrow_using_subcommand history" -s q -l quiet -d 'Show only the ids'
complete -c burrow -n "__fish_burrow_using_subcommand history" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand history" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand events" -l since -d 'Show events since this time: RFC 3339, Unix seconds, or a Go duration before now (10m)' -r
complete -c burrow -n "__fish_burrow_using_subcommand events" -l until -d 'Stop at this time (same forms); without it, new events are followed' -r
complete -c burrow -n "__fish_burrow_using_subcommand events" -s f -l filter -d 'Only events that match: type=, event=, container=, image=, label= (repeatable; one key\'s values are alternatives)' -r
complete -c burrow -n "__fish_burrow_using_subcommand events" -l format -d 'Output format: the default lines, json, or a Go template (`{{.Action}} {{.Actor.Attributes.name}}`)' -r
complete -c burrow -n "__fish_burrow_using_subcommand events" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand events" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand healthcheck; and not __fish_seen_subcommand_from run help" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand healthcheck; and not __fish_seen_subcommand_from run help" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand healthcheck; and not __fish_seen_subcommand_from run help" -f -a "run" -d 'Run a container\'s health check now; print the status it leaves (exit status 1 when the check failed)'
complete -c burrow -n "__fish_burrow_using_subcommand healthcheck; and not __fish_seen_subcommand_from run help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c burrow -n "__fish_burrow_using_subcommand healthcheck; and __fish_seen_subcommand_from run" -s h -l help -d 'Print help'
complete -c burrow -n "__fish_burrow_using_subcommand healthcheck; and __fish_seen_subcommand_from run" -s V -l version -d 'Print version'
complete -c burrow -n "__fish_burrow_using_subcommand healthcheck; and __fish_seen_subcommand_from help" -f -a "run" -d 'Run a container\'s health check now; print the status it leaves (exit status 1 when the check failed)'
complete -c burrow -n "__fish_burrow_using_subcommand healthcheck; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "run" -d 'Run a command in a new container'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "create" -d 'Create a container without starting it (every flag of run but -d)'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "ps" -d 'List containers'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "rm" -d 'Remove containers'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "port" -d 'List a container\'s published ports'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "pause" -d 'Freeze every process of running containers'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "unpause" -d 'Thaw paused containers'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "stats" -d 'Show containers\' CPU, memory, network, block I/O and process use'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "update" -d 'Change the resource limits of running containers'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "exec" -d 'Run a command in a running container'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "logs" -d 'Print a container\'s output (stdout and stderr to their own streams)'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "stop" -d 'Stop containers: the image\'s stop signal, then SIGKILL after a timeout'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "kill" -d 'Send a signal to containers'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "start" -d 'Start stopped containers again (same writable layer)'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "restart" -d 'Stop and start containers'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "wait" -d 'Wait for containers to exit; print their exit status'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "attach" -d 'Attach to a detached container\'s output (and stdin)'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "top" -d 'List the processes of a container'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "rename" -d 'Rename a container'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "cp" -d 'Copy files between a container (CONTAINER:PATH) and the host'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "diff" -d 'List what a container changed: A added, C changed, D deleted'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "export" -d 'Write a container\'s filesystem as a tarball'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "commit" -d 'Make an image of a container\'s changes on top of its image'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "build" -d 'Build an image from a Containerfile (or Dockerfile) and a context directory'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "images" -d 'List images'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "import" -d 'Import a root filesystem tarball (plain, gzip or zstd) as an image'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "load" -d 'Load images from a docker-archive or an OCI layout (directory or tar)'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "save" -d 'Save images to a docker-archive or an OCI layout'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "rmi" -d 'Remove images'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "tag" -d 'Give an image another name'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "inspect" -d 'Show low-level information on containers or images, as JSON'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "pull" -d 'Pull an image from a registry'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "push" -d 'Push an image to a registry'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "login" -d 'Log in to a registry'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "logout" -d 'Log out of a registry'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "container" -d 'Manage containers (the container verbs under one name)'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "image" -d 'Manage images'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "system" -d 'Manage burrow\'s storage'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "doctor" -d 'Check this host for what rootless containers need; print each fix'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "info" -d 'Show what burrow found on this host'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "version" -d 'Show burrow\'s version'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "history" -d 'Show an image\'s build steps, newest first'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "events" -d 'Show what happened to containers and images'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "healthcheck" -d 'Run containers\' health checks'
complete -c burrow -n "__fish_burrow_using_subcommand help; and not __fish_seen_subcommand_from run create ps rm port pause unpause stats update exec logs stop kill start restart wait attach top rename cp diff export commit build images import load save rmi tag inspect pull push login logout container image system doctor info version history events healthcheck help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "attach" -d 'Attach to a detached container\'s output (and stdin)'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "commit" -d 'Make an image of a container\'s changes on top of its image'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "cp" -d 'Copy files between a container (CONTAINER:PATH) and the host'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "create" -d 'Create a container without starting it'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "diff" -d 'List what a container changed'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "exec" -d 'Run a command in a running container'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "export" -d 'Write a container\'s filesystem as a tarball'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "inspect" -d 'Show low-level information on containers, as JSON'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "kill" -d 'Send a signal to containers'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "logs" -d 'Print a container\'s output'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "ls" -d 'List containers'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "pause" -d 'Freeze every process of running containers'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "port" -d 'List a container\'s published ports'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "rename" -d 'Rename a container'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "restart" -d 'Stop and start containers'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "rm" -d 'Remove containers'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "run" -d 'Run a command in a new container'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "start" -d 'Start stopped containers'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "stats" -d 'Show containers\' resource use'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "stop" -d 'Stop containers'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "top" -d 'List the processes of a container'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "unpause" -d 'Thaw paused containers'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "update" -d 'Change the resource limits of running containers'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "wait" -d 'Wait for containers to exit; print their exit status'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "exists" -d 'Exit 0 when a container exists, 1 when it does not'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from container" -f -a "prune" -d 'Remove every container that is not running'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from image" -f -a "ls" -d 'List images'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from image" -f -a "rm" -d 'Remove images'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from image" -f -a "build" -d 'Build an image from a Containerfile (or Dockerfile) and a context directory'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from image" -f -a "inspect" -d 'Show low-level information on images, as JSON'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from image" -f -a "prune" -d 'Remove images without a name (with -a, all images)'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from image" -f -a "tag" -d 'Give an image another name'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from image" -f -a "save" -d 'Save images to a docker-archive or an OCI layout'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from image" -f -a "load" -d 'Load images from a docker-archive or an OCI layout'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from image" -f -a "import" -d 'Import a root filesystem tarball as an image'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from image" -f -a "pull" -d 'Pull an image from a registry'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from image" -f -a "push" -d 'Push an image to a registry'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from image" -f -a "exists" -d 'Exit 0 when an image exists, 1 when it does not'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from image" -f -a "history" -d 'Show an image\'s build steps, newest first'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from system" -f -a "reset" -d 'Remove all images, layers and containers of this user'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from system" -f -a "df" -d 'Show how much disk images and containers use'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from system" -f -a "prune" -d 'Remove stopped containers and images without a name (with -a, every unused image)'
complete -c burrow -n "__fish_burrow_using_subcommand help; and __fish_seen_subcommand_from healthcheck" -f -a "run" -d 'Run a container\'s health check now; print the status it leaves (exit status 1 when the check failed)'
