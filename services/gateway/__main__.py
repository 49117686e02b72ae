from common.runtime import main
from services.gateway.service import GatewayService

main(GatewayService)
