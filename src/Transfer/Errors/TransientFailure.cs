using System.Net.Sockets;
using Renci.SshNet.Common;

namespace BuildFarm.Transfer.Errors;

/// <summary>Which failures are worth retrying: the network and the server's availability, not config or commands.</summary>
public static class TransientFailure
{
    public static bool IsTransient(Exception exception) => exception switch
    {
        HostKeyMismatchException or RemoteCommandFailedException or TransferInfrastructureException or UploadStalledException => false,
        SshAuthenticationException => false,
        OperationCanceledException => false,
        ChannelLostException => true,
        OpenSshFailedException openSsh => openSsh.Transient,
        SshConnectionException or SshOperationTimeoutException or ProxyException => true,
        SocketException or TimeoutException => true,
        // Channel open refused, session closing under us, ...: the connection is gone or going; a new one may work.
        SshException => true,
        IOException io => io.InnerException is SocketException or SshException || io is EndOfStreamException,
        AggregateException agg => agg.InnerExceptions.All(IsTransient),
        _ => false,
    };
}
