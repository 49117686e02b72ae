from common.runtime import main
from services.console.service import ConsoleService

main(ConsoleService)
