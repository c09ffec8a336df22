# BuildFarm dispatcher image: `buildfarm serve` plus the `buildfarm` CLI (keys, store, submit).
# Build context: the repository root (compose.yaml sets it).
FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
COPY global.json nuget.config Directory.Build.props Directory.Packages.props ./
COPY src/ src/
# nuget.config also names a local feed directory; it must exist (empty) for restore to proceed.
RUN mkdir -p /opt/nuget/packages \
 && dotnet publish src/Cli/BuildFarm.Cli.csproj -c Release -o /out --nologo

# The dispatcher hosts an ASP.NET Core API, so it needs the aspnet runtime. The container is also the origin: an
# sshd (started by the entry point as root) through which workers pull inputs and return outputs, logging in as
# buildfarm (a login shell, no password: only the workers' keys in the keys volume let them in).
FROM mcr.microsoft.com/dotnet/aspnet:10.0
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssh-server \
 && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_* \
 && groupadd --system --gid 10001 buildfarm \
 && useradd --system --uid 10001 --gid buildfarm --home-dir /var/lib/buildfarm --shell /bin/sh buildfarm \
 && usermod -p '*' buildfarm \
 && install -d -o buildfarm -g buildfarm -m 0750 /var/lib/buildfarm /var/lib/buildfarm/origin \
 && install -d -m 0755 /etc/buildfarm /etc/buildfarm/keys
COPY --from=build /out/ /opt/buildfarm/bin/
COPY compose/init-keys.sh /opt/buildfarm/bin/init-keys.sh
COPY compose/dispatcher-entrypoint.sh /opt/buildfarm/bin/dispatcher-entrypoint.sh
ENV PATH=/opt/buildfarm/bin:$PATH \
    DOTNET_CLI_TELEMETRY_OPTOUT=1
WORKDIR /var/lib/buildfarm
VOLUME ["/var/lib/buildfarm"]
# Root only until the entry point has started sshd; `buildfarm` itself runs as buildfarm (uid 10001).
USER root
EXPOSE 8080 22
ENTRYPOINT ["/opt/buildfarm/bin/dispatcher-entrypoint.sh"]
CMD ["serve", "--config", "/etc/buildfarm/dispatcher.json"]
