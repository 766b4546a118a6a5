# Nix derivation of burrow: builds the source tree two levels up with
# cargo (dependencies pinned by Cargo.lock) and lays files out with
# packaging/install.sh, as every burrow package does.
#   nix-build packaging/nix
# The AppArmor profile lands in $out/etc/apparmor.d/burrow; on NixOS add it
# with security.apparmor.policies where AppArmor restricts user namespaces.
# newuidmap and newgidmap must come from the system (setuid wrappers, as
# NixOS provides with security.wrappers when users have subUidRanges).
{ pkgs ? import <nixpkgs> { } }:

let
  manifest = (pkgs.lib.importTOML ../../Cargo.toml).package;
in
pkgs.rustPlatform.buildRustPackage {
  pname = manifest.name;
  version = manifest.version;

  src = pkgs.lib.cleanSourceWith {
    src = ../..;
    filter = path: type: baseNameOf path != "target";
  };
  cargoLock.lockFile = ../../Cargo.lock;
  cargoBuildFlags = [ "--bin" "burrow" ];
  # The integration tests run burrow as other users; they need a real host.
  doCheck = false;

  postInstall = ''
    mv $out/bin/burrow burrow.built
    rm -f $out/bin/burrow-gen
    sh packaging/install.sh --binary burrow.built --destdir $out --prefix "" \
      --sysconfdir /etc --zsh-dir share/zsh/site-functions
  '';

  meta = {
    description = manifest.description;
    license = pkgs.lib.licenses.asl20;
    platforms = pkgs.lib.platforms.linux;
    mainProgram = "burrow";
  };
}
