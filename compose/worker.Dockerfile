# BuildFarm worker image: `buildfarm-worker run`. Build context: the repository root (compose.yaml sets it).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY global.json nuget.config Directory.Build.props Directory.Packages.props ./
COPY src/ src/
# nuget.config also names a local feed directory; it must exist (empty) for restore to proceed.
RUN mkdir -p /opt/nuget/packages \
 && dotnet publish src/Worker/BuildFarm.Worker.csproj -c Release -o /out --nologo

# The worker is a plain .NET host (no ASP.NET Core): the base runtime is enough.
FROM mcr.microsoft.com/dotnet/runtime:10.0
# openssh-client: ssh and ssh-keyscan for Origins:Transport OpenSsh, the default (docs/worker.md).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-client \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10002 buildfarm-worker \
 && useradd --system --uid 10002 --gid buildfarm-worker --home-dir /var/lib/buildfarm-worker --shell /usr/sbin/nologin buildfarm-worker \
 && install -d -o buildfarm-worker -g buildfarm-worker -m 0750 /var/lib/buildfarm-worker \
 && install -d -m 0755 /etc/buildfarm /etc/buildfarm/keys
COPY --from=build /out/ /opt/buildfarm/bin/
# DOTNET_ReadyToRun=0 as packaging/buildfarm-worker.service: the long-running worker compiles each method once,
# fully optimised (~15 % less CPU per build); a one-off command in the container starts a second or two slower.
ENV PATH=/opt/buildfarm/bin:$PATH \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_ReadyToRun=0
WORKDIR /var/lib/buildfarm-worker
VOLUME ["/var/lib/buildfarm-worker"]
USER buildfarm-worker
ENTRYPOINT ["/opt/buildfarm/bin/buildfarm-worker"]
CMD ["run", "--config", "/etc/buildfarm/worker.json"]
