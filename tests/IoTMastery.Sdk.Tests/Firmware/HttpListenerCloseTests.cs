using System.Net;
using System.Net.Sockets;

namespace IoTMastery.Sdk.Tests.Firmware;

/// <summary>
/// Why the loopback HTTP servers of the tests dispose with <see cref="HttpListener.Close"/> alone: on Linux the managed
/// listener's Close after Stop registers its endpoint again, so it binds the port a second time and throws when another
/// socket took the port in between. A full suite under a CPU hog failed once that way in LoopbackImageServer.Dispose.
/// </summary>
public sealed class HttpListenerCloseTests
{
    [Fact]
    public void Close_after_Stop_binds_the_port_again_and_Close_alone_does_not()
    {
        var (stopped, port) = Started();
        stopped.Stop();
        using (var squatter = new TcpListener(IPAddress.Loopback, port))
        {
            squatter.Start();
            Assert.Throws<HttpListenerException>(() => stopped.Close());
        }

        var (closed, port2) = Started();
        closed.Close();
        using var squatter2 = new TcpListener(IPAddress.Loopback, port2);
        squatter2.Start(); // the port is free at once: Close released it and did not bind it again
    }

    private static (HttpListener Listener, int Port) Started()
    {
        for (var tries = 0; ; tries++)
        {
            using var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
                return (listener, port);
            }
            catch (HttpListenerException) when (tries < 5)
            {
                // Taken between probing and binding; try another.
            }
        }
    }
}
